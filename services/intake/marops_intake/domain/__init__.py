"""Intake's pure rules: the brief, its completeness, access, status derivation, version diffs. No I/O."""

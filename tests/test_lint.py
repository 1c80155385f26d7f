"""The repository passes its lint rules (ruff.toml): undefined names, unused imports,
import order, and the few bug-prone patterns we refuse; and the type checker (mypy.ini:
strict on libs/, the default checks on the services' packages) finds no error."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    # mypy.ini names the files; its cache stays out of the way in the ignored .infra/
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(ROOT / ".infra" / "mypy-cache")],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout, result.stdout


def test_mypy_checks_every_package_and_the_libraries_strictly() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "mypy.ini")
    checked = {Path(p.strip()) for p in config["mypy"]["files"].split(",")}
    packages = {p.relative_to(ROOT) for p in [*ROOT.glob("libs/*/marops_*"), *ROOT.glob("services/*/marops_*")]
                if p.is_dir() and not p.name.endswith(".egg-info")}
    assert packages - checked == set(), "packages mypy.ini does not check"
    libraries = config["mypy-marops_events.*,marops_service.*,marops_testkit.*,marops_import.*"]
    for flag in ("disallow_untyped_defs", "disallow_any_generics", "warn_return_any", "disallow_untyped_calls"):
        assert libraries.getboolean(flag), flag

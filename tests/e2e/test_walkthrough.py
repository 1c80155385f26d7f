"""The README's walkthrough script runs as written against the four services as processes:
every step succeeds, results reported through intake come back from metrics as attainment,
and the week's review pack shows the launch and the spend."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "examples" / "walkthrough.sh"


def _after(lines: list[str], heading: str) -> Any:
    """The JSON line printed right after the step whose heading starts with ``heading``."""
    at = next(i for i, line in enumerate(lines) if line.startswith(f"== {heading}"))
    return json.loads(lines[at + 1])


def test_the_walkthrough_runs_and_shows_results_outcomes_and_a_review_pack(e2e_stack: Any) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAROPS_")}
    env.update({f"{name.upper()}_URL": e2e_stack.url(name) for name in ("intake", "governance", "budget", "metrics")})
    env.update({"MAROPS_JWT_SECRET": e2e_stack.settings.jwt_secret.get_secret_value(),
                "MAROPS_KAFKA_BOOTSTRAP_SERVERS": e2e_stack.kafka_bootstrap,
                "MAROPS_TOPIC_PREFIX": e2e_stack.topic_prefix})
    run = subprocess.run(["bash", str(SCRIPT)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, f"--- stderr ---\n{run.stderr[-3000:]}\n--- stdout ---\n{run.stdout[-2000:]}"
    lines = run.stdout.splitlines()
    assert lines[-1].startswith("done: campaign ")

    reported = _after(lines, "results as of today")
    assert reported["source_system"] == "intake"
    outcome = _after(lines, "metrics: attainment per KPI")
    assert outcome == {"has_results": True, "met_targets": False,
                       "kpis": [{"metric": "reactivated_customers", "target": "500", "actual": "410",
                                 "attainment": 0.82}]}
    pack = _after(lines, "metrics: this week's review pack")
    assert pack["period"] == "week" and pack["launches"] >= 1
    assert {"currency": "EUR", "amount": "8750.00"} in pack["spend"]
    assert pack["completed_without_retrospective"]  # completed this week, no retrospective yet

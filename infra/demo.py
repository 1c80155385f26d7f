"""`make demo`: `make run`, plus an imported history and its headline metrics.

Starts the infrastructure and the four services exactly as `make run` does (the functions of
infra/run_services.py), imports examples/demo-history.csv (two quarters of four teams'
campaigns, see examples/generate_demo_history.py) with the history importer into the
services' Kafka, waits until the metrics service has projected every imported campaign,
prints the headline metrics as a table, and keeps the services running until Ctrl-C.

Running it again changes nothing: the importer derives every event id from the fact's
natural key, so a second import is absorbed by every consumer's inbox.

Environment: as infra/run_services.py, plus MAROPS_TOPIC_PREFIX (the services' and the
import's topic prefix), MAROPS_DEMO_FILE (default examples/demo-history.csv) and
MAROPS_DEMO_TIMEOUT (seconds to wait for the projection, 120).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run_services as rs  # infra/ is not a package: imported from its directory

DEFAULT_FILE = rs.REPO_ROOT / "examples" / "demo-history.csv"
HOURS_PER_DAY = 24


def say(msg: str) -> None:
    with rs._print_lock:
        print(f"demo: {msg}", flush=True)


# --- the headline table ----------------------------------------------------------------


def _days(hours: float | None) -> str:
    return "-" if hours is None else f"{hours / HOURS_PER_DAY:.1f}"


def _pct(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction * 100:.1f} %"


def _money(amount: str | None) -> str:
    return "-" if amount is None else f"{Decimal(amount):,.2f}"


def _table(headers: list[str], rows: list[list[str]], indent: str = "  ", text_columns: int = 1) -> list[str]:
    """The first ``text_columns`` columns left-aligned, the (numeric) others right-aligned."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return indent + "  ".join(str(c).ljust(w) if i < text_columns else str(c).rjust(w)
                                  for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    return [line(headers), indent + "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def render_summary(summary: dict[str, Any], variance_rows: list[dict[str, Any]] | None = None,
                   changes: dict[str, Any] | None = None, *, top: int = 5) -> str:
    """The headline metrics as a readable text table.

    ``summary`` is the JSON of the metrics service's ``GET /summary``; ``variance_rows`` the
    ``rows`` of ``GET /aggregates/variance/campaigns`` (for the most over-spent campaigns);
    ``changes`` the ``overall`` of ``GET /aggregates/change-in-flight``.
    Durations are shown in days (1 decimal), rates in percent (1 decimal), money per currency.
    """
    out: list[str] = []
    counts = summary["campaigns"]
    out += ["marops headline metrics", "=======================", "",
            (f"Campaigns: {counts['submitted']} submitted, {counts['launched']} launched, "
             f"{counts['completed']} completed, {counts['cancelled']} cancelled"), ""]

    ct = summary["cycle_time"]
    out += ["Cycle time, first submission to launch (days)"]
    out += _table(["launched", "mean", "p50", "p90"],
                  [[str(ct["count"]), _days(ct["mean_hours"]), _days(ct["p50_hours"]), _days(ct["p90_hours"])]])
    out.append("")

    gates = summary["time_in_gate"]["gates"]
    sla = {g["gate_id"]: g for g in summary["sla"]["gates"]}
    rows = []
    for g in gates:
        s = sla.get(g["gate_id"], {})
        rows.append([g["gate_id"] + (" *" if g["bottleneck"] else ""), str(g["count"]), _days(g["mean_hours"]),
                     _days(g["p50_hours"]), _days(g["p90_hours"]), str(s.get("decisions", 0)),
                     str(s.get("breaches", 0)), _pct(s.get("breach_rate"))])
    for gate_id, s in sla.items():  # gates with decisions but no approval yet
        if gate_id not in {g["gate_id"] for g in gates}:
            rows.append([gate_id, "0", "-", "-", "-", str(s["decisions"]), str(s["breaches"]),
                         _pct(s["breach_rate"])])
    out += ["Time in gate, per approval (days), and SLA breaches per gate (approvals and rejections)"]
    out += _table(["gate", "approvals", "mean", "p50", "p90", "decisions", "breaches", "breach rate"], rows)
    bottleneck = summary["time_in_gate"]["bottleneck"]
    if bottleneck:
        out.append(f"  * bottleneck: {bottleneck['gate_id']} ({bottleneck['gate_name']}), "
                   f"p90 {_days(bottleneck['p90_hours'])} days")
    total = summary["sla"]
    out += [(f"  SLA breaches overall: {total['breaches']} of {total['decisions']} decisions "
             f"({_pct(total['breach_rate'])})"), ""]

    rw, ot, dc = summary["rework"], summary["on_time"], summary["data_completeness"]
    rw_rate, rpb = rw["rework_rate"], rw["revisions_per_brief"]
    out += [
        f"Rework rate:        {_pct(rw_rate)} ({rw['reworked']} of {rw['submitted']} briefs sent back at least once)",
        f"Revisions per brief: {'-' if rpb is None else f'{rpb:.2f}'} ({rw['revisions']} revisions)",
        f"On-time launches:   {_pct(ot['on_time_rate'])} ({ot['on_time']} of {ot['launched']}; {ot['late']} late)",
        (f"Data completeness:  {_pct(dc['data_completeness'])} ({dc['complete']} of {dc['launched']} launches "
         f"with KPI targets and a tracking plan)"),
    ]
    if changes is not None:
        paused = changes["time_paused"]
        out.append(f"Change in flight:   {changes['change_requests']} change requests ({changes['approved']} approved, "
                   f"{changes['rejected']} rejected), {changes['paused_campaigns']} campaigns paused"
                   + (f" (mean {_days(paused['mean_hours'])} days)" if paused["count"] else ""))
    out += [
        "",
    ]

    out += ["Budget variance, actual spend minus committed, per currency"]
    out += _table(["currency", "committed", "actual", "variance", "variance %"],
                  [[v["currency"], _money(v["committed"]), _money(v["actual"]), _money(v["variance"]),
                    "-" if v["variance_pct"] is None else f"{v['variance_pct']} %"]
                   for v in summary["budget_variance"]])

    if variance_rows is not None:
        over = [r for r in variance_rows if Decimal(r["variance"]) > 0 and r["variance_pct"] is not None]
        over.sort(key=lambda r: (-Decimal(r["variance_pct"]), r["campaign_id"]))
        out += ["", f"Top over-spent campaigns (by % over commitment; {len(over)} over-spent in all)"]
        if over:
            out += _table(["campaign", "team", "currency", "committed", "actual", "over", "over %"],
                          [[r["campaign_id"], r.get("team") or "-", r["currency"], _money(r["committed"]),
                            _money(r["actual"]), _money(r["variance"]), f"{r['variance_pct']} %"]
                           for r in over[:top]], text_columns=3)
        else:
            out.append("  none")
    return "\n".join(out) + "\n"


# --- what the file says, to know when metrics has it all -------------------------------


def expected(text: str) -> tuple[Counter[str], dict[str, dict[str, Any]]]:
    """Events per type the import publishes, and per campaign what /campaigns must show."""
    from marops_import.history import to_events
    from marops_import.rows import parse

    rows = parse(text)
    types = Counter(e.type for e in to_events(rows))
    campaigns: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "latest_version": 0, "rejections": 0, "launched": False, "cancelled": False, "completed": False,
        "spend": defaultdict(Decimal)})
    for r in rows:
        c = campaigns[r.campaign_id]
        if r.event == "submitted":
            c["latest_version"] = max(c["latest_version"], r.get("version"))
        elif r.event == "rejected":
            c["rejections"] += 1
        elif r.event in ("launched", "cancelled", "completed"):
            c[r.event] = True
        elif r.event == "spend":
            c["spend"][r.get("currency")] += r.get("amount")
    return types, dict(campaigns)


def projected(table: list[dict[str, Any]], want: dict[str, dict[str, Any]]) -> list[str]:
    """The imported campaigns /campaigns does not show as the file says (yet)."""
    have = {row["campaign_id"]: row for row in table}
    missing = []
    for cid, c in want.items():
        row = have.get(cid)
        if row is None or (
            row["latest_version"] != c["latest_version"] or row["rejections"] != c["rejections"]
            or (row["launched_at"] is not None) != c["launched"]
            or (row["cancelled_at"] is not None) != c["cancelled"]
            or (row["completed_at"] is not None) != c["completed"]
            or {s["currency"]: Decimal(s["amount"]) for s in row["actual_spend"]} != dict(c["spend"])
        ):
            missing.append(cid)
    return missing


# --- talking to the metrics service ----------------------------------------------------


class Metrics:
    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {self.token}",
                                                                   "Accept": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


def viewer_token(env: dict[str, str]) -> str:
    from pydantic import SecretStr

    from marops_metrics.settings import Settings
    from marops_service.auth import mint

    settings = Settings(jwt_secret=SecretStr(env["MAROPS_JWT_SECRET"]))
    return mint(settings, "demo", ["viewer"])


def wait_projected(metrics: Metrics, types: Counter[str], want: dict[str, dict[str, Any]], timeout: float,
                   stop: Any) -> bool:
    deadline = time.monotonic() + timeout
    last = ""
    while not stop.is_set():
        try:
            status = metrics.get("/status")
            applied = {t["event_type"]: t["events_applied"] for t in status["topics"]}
            behind = {t: n - applied.get(t, 0) for t, n in types.items() if applied.get(t, 0) < n}
            pending = projected(metrics.get("/campaigns")["campaigns"], want) if not behind else list(want)
            if not behind and not pending:
                return True
            now = (f"{sum(behind.values())} events to go" if behind
                   else f"{len(pending)} of {len(want)} campaigns to go")
        except (urllib.error.URLError, OSError, ValueError, KeyError) as exc:
            now = f"metrics not answering yet ({exc})"
        if now != last:
            say(f"waiting for the metrics service to project the history: {now}")
            last = now
        if time.monotonic() > deadline:
            say(f"ERROR: the metrics service did not project the history within {timeout:.0f}s ({now})")
            return False
        stop.wait(0.5)
    return False


def run_demo(started: rs.Started, stop: Any) -> int:
    path = Path(os.environ.get("MAROPS_DEMO_FILE", DEFAULT_FILE))
    metrics_service = started.service("metrics")
    if metrics_service is None:
        say("ERROR: the metrics service is not installed; nothing to show")
        return 1
    from marops_import.cli import main as import_main

    text = path.read_text(encoding="utf-8-sig")
    types, want = expected(text)
    bootstrap = started.env["MAROPS_KAFKA_BOOTSTRAP_SERVERS"]
    prefix = started.env.get("MAROPS_TOPIC_PREFIX", "")
    shown = path.relative_to(rs.REPO_ROOT) if path.is_relative_to(rs.REPO_ROOT) else path
    say(f"importing {shown} ({len(want)} campaigns) into Kafka at {bootstrap}")
    rc = import_main(["import", str(path), "--bootstrap", bootstrap, "--topic-prefix", prefix])
    if rc != 0:
        say(f"ERROR: the import failed (exit {rc})")
        return 1
    metrics = Metrics(metrics_service.url, viewer_token(started.env))
    if not wait_projected(metrics, types, want, float(os.environ.get("MAROPS_DEMO_TIMEOUT", "120")), stop):
        return 1 if not stop.is_set() else 130
    summary = metrics.get("/summary")
    variance = metrics.get("/aggregates/variance/campaigns")["rows"]
    table = render_summary(summary, variance, metrics.get("/aggregates/change-in-flight")["overall"])
    m = metrics_service.url
    with rs._print_lock:
        print("\n" + table, flush=True)
        print("Explore further (a viewer token: .venv/bin/marops-token --sub vera --role viewer):\n"
              f"  {m}/summary  {m}/campaigns  {m}/aggregates/gate-times?group_by=team\n"
              f"  {m}/aggregates/cycle-time?group_by=quarter  {m}/aggregates/variance/budget-lines\n"
              f"  {m}/campaigns/{next(iter(sorted(want)))}/timeline", flush=True)
    return 0


def main() -> int:
    stop = rs.handle_stop_signals()
    started = rs.start(stop)
    if isinstance(started, int):
        return started
    try:
        rc = run_demo(started, stop)
    except BaseException:
        rs.stop_all(started.services)  # they run in sessions of their own: never leave them behind
        raise
    if rc != 0:
        rs.stop_all(started.services)
        rs.say("all services stopped")
        return rc
    rs.print_banner(started)
    return rs.supervise(started.services, stop)


if __name__ == "__main__":
    sys.exit(main())

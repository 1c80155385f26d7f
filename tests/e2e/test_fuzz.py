"""Every OpenAPI document describes its API: Schemathesis with every check, three roles.

The four services run as processes (the e2e stack) against real PostgreSQL and Kafka.
For each service and each of three roles (ops_admin, a requester of one team, viewer),
Schemathesis' engine runs the phases of `schemathesis run`: the documents' examples,
coverage (boundary and just-outside-boundary values of every parameter, and methods the
path does not support), property-based fuzzing with valid and invalid data, and stateful
sequences along the links it infers from the documents (POST /campaigns -> GET / PATCH /
submit of the created campaign, POST /budget-lines -> its adjustments, ...). Every check
is on:

    not_a_server_error, status_code_conformance, content_type_conformance,
    response_headers_conformance, response_schema_conformance, negative_data_rejection,
    positive_data_acceptance, missing_required_header, unsupported_method,
    allow_header_conformance, use_after_free, ensure_resource_availability, ignored_auth,
    object_level_authorization

and the test fails on any failure that is not one of the EXCEPTIONS below, each of which
says why the document is right and the check's reading of it is not ours.

Cost is bounded for `make test`: a fixed seed and deterministic generation (the same
requests every run), a few examples per operation, no shrinking, one worker, one stack
shared by the whole module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import schemathesis
from schemathesis.engine import events, from_schema

SERVICES = ("intake", "governance", "budget", "metrics")
TEAM = "growth"

#: every check Schemathesis has (max_response_time needs a limit: timings are not asserted)
CHECKS = (
    "not_a_server_error", "status_code_conformance", "content_type_conformance", "response_headers_conformance",
    "response_schema_conformance", "negative_data_rejection", "positive_data_acceptance", "missing_required_header",
    "unsupported_method", "allow_header_conformance", "use_after_free", "ensure_resource_availability",
    "ignored_auth", "object_level_authorization",
)
PHASES = ("examples", "coverage", "fuzzing", "stateful")
#: The coverage phase (every boundary of every parameter, and the methods a path does not
#: support) is two thirds of the cost and depends on the document, not the caller: it runs
#: once per service, as ops_admin, who reaches the most code. Every role gets the other
#: phases, with every check.
COVERAGE_ROLE = "ops_admin"

#: examples per operation in the fuzzing phase; with the coverage phase's own cases this is
#: ~1,700 requests per service as ops_admin, ~400 as the other roles
MAX_EXAMPLES = 5
STATEFUL_STEPS = 10


@dataclass(frozen=True)
class Finding:
    service: str
    role: str
    check: str
    operation: str  # "POST /campaigns"
    title: str
    message: str
    status: int | None
    problem_type: str | None
    body: object
    reproduce: str

    def __str__(self) -> str:
        answer = json.dumps(self.body)[:600] if self.body is not None else ""
        return (f"[{self.service}/{self.role}] {self.operation}: {self.check}: {self.title}\n"
                f"    {self.message.strip()[:600]}\n    -> {self.status} {answer}\n"
                f"    {self.reproduce[:1500]}")


@dataclass(frozen=True)
class Exception_:
    """A failure that is a reading of the document we do not share, and why."""

    service: str
    operation: str
    check: str
    applies: Callable[[Finding], bool]
    why: str


def problem(type_: str, *details: str) -> Callable[[Finding], bool]:
    """The answer is the problem ``type_`` (and its detail starts with one of ``details``)."""
    def applies(f: Finding) -> bool:
        body = f.body if isinstance(f.body, dict) else {}
        detail = str(body.get("detail", ""))
        return body.get("type") == f"/problems/{type_}" and (not details or detail.startswith(details))
    return applies


def field_errors(*kinds: str, path: str = "") -> Callable[[Finding], bool]:
    """A 422 whose every errors[] item is of one of ``kinds`` (at a path ending in ``path``)."""
    def applies(f: Finding) -> bool:
        errors = f.body.get("errors") if isinstance(f.body, dict) else None
        return bool(errors) and all(e.get("type") in kinds and e.get("path", "").endswith(path) for e in errors)
    return applies


ACCEPTANCE = "positive_data_acceptance"
#: A schema says what a request must look like; these refusals depend on what is stored or
#: relate several values, which JSON Schema cannot state. Each is narrow: one operation,
#: one check, the exact answer. (Not an exception but a generation setting: no U+0000 in
#: generated text. PostgreSQL text cannot hold it; every service refuses it with 422, and
#: the services' own tests cover that refusal.)
EXCEPTIONS: tuple[Exception_, ...] = (
    Exception_("intake", "GET /campaigns", ACCEPTANCE, problem("invalid-cursor"),
               "a cursor is opaque: any string is well-formed, only those the service gave out are valid"),
    Exception_("intake", "GET /lessons", ACCEPTANCE, problem("invalid-cursor"), "a cursor is opaque (as above)"),
    Exception_("governance", "GET /queue", ACCEPTANCE, problem("invalid-cursor"), "a cursor is opaque (as above)"),
    Exception_("metrics", "GET /campaigns", ACCEPTANCE, problem("validation-error", "the cursor is not one"),
               "a cursor is opaque (as above)"),
    Exception_("metrics", "GET /campaigns/{campaign_id}/timeline", ACCEPTANCE,
               problem("validation-error", "the cursor is not one"), "a cursor is opaque (as above)"),
    *(Exception_("metrics", operation, ACCEPTANCE, problem("validation-error", "the date range is empty"),
                 "a range whose start is after its end relates two parameters; JSON Schema cannot compare them")
      for operation in ("GET /summary", "GET /aggregates/cycle-time", "GET /aggregates/gate-times",
                        "GET /aggregates/rework", "GET /aggregates/on-time", "GET /aggregates/sla-breaches",
                        "GET /aggregates/data-completeness", "GET /aggregates/variance/campaigns",
                        "GET /aggregates/variance/budget-lines", "GET /aggregates/variance/months",
                        "GET /aggregates/outcomes", "GET /outcomes/campaigns", "GET /reviews")),
    Exception_("intake", "POST /campaigns/{campaign_id}/submit", ACCEPTANCE, problem("brief-incomplete"),
               "the request has no body: what is refused is the stored draft, with every missing field "
               "in errors[] (the documented 422 of submission)"),
    Exception_("intake", "PATCH /campaigns/{campaign_id}/brief", ACCEPTANCE,
               problem("unprocessable", "the owner changes only through an explicit transfer"),
               "owner may repeat the current owner; another one is refused (ownership moves by POST .../owner): "
               "it depends on the stored campaign"),
    *(Exception_("intake", operation, ACCEPTANCE, field_errors("decimal_max_places", "decimal_max_digits"),
                 "a KPI figure may be a JSON number (clients send 18.75) with at most 6 decimal places; "
                 "JSON Schema cannot bound the places of a binary float (multipleOf 0.000001 refuses 0.3)")
      for operation in ("POST /campaigns", "PATCH /campaigns/{campaign_id}/brief", "POST /briefs/check",
                        "POST /campaigns/{campaign_id}/complete", "POST /campaigns/{campaign_id}/changes",
                        "POST /campaigns/{campaign_id}/results")),
    *(Exception_("intake", operation, ACCEPTANCE, problem("conflict"),
                 "pausing, resuming and changing need a campaign in flight (approved or launched; paused to "
                 "resume, no other change pending): the stored campaign's state")
      for operation in ("POST /campaigns/{campaign_id}/pause", "POST /campaigns/{campaign_id}/resume",
                        "POST /campaigns/{campaign_id}/changes")),
    Exception_("intake", "POST /campaigns/{campaign_id}/results", ACCEPTANCE, problem("conflict"),
               "results are for a launched or completed campaign, and a re-sent report must repeat the stored "
               "one: the stored campaign's state"),
    Exception_("intake", "POST /campaigns/{campaign_id}/changes", ACCEPTANCE,
               problem("unprocessable", "the change request changes nothing"),
               "a change must differ from the stored current version"),
    Exception_("intake", "POST /campaigns/{campaign_id}/changes", ACCEPTANCE, problem("brief-incomplete"),
               "the proposed version is the stored brief with the change applied; its dates must agree "
               "with the stored ones (flight after launch, end after start)"),
    Exception_("intake", "POST /campaigns/{campaign_id}/results", ACCEPTANCE,
               problem("unprocessable", "each result must name a KPI of the campaign"),
               "a result names one of the campaign's KPIs, once: stored state"),
    *(Exception_("intake", op, ACCEPTANCE, field_errors("string_pattern_mismatch", path="reason"),
                 "a reason of only whitespace (a form feed) is refused as blank; the document spells Python's "
                 "whitespace out in the pattern, but the generator still reads a form feed as a match")
      for op in ("POST /campaigns/{campaign_id}/pause", "POST /campaigns/{campaign_id}/resume",
                 "POST /campaigns/{campaign_id}/changes")),
    Exception_("intake", "POST /campaigns/{campaign_id}/retrospective", ACCEPTANCE,
               field_errors("value_error"),
               "an entry of only whitespace is refused as blank; which characters are whitespace differs between "
               "regular-expression dialects, so no pattern in the document would say it exactly"),
    Exception_("intake", "PUT /teams/{team}/capacity", ACCEPTANCE, problem("unprocessable", "the week of"),
               "a week is named by its Monday, once: a weekday and uniqueness across items JSON Schema cannot "
               "state for dates"),
    Exception_("intake", "PUT /teams/{team}/capacity", ACCEPTANCE, field_errors("decimal_max_places",
                                                                                 "decimal_max_digits"),
               "a capacity may be a JSON number (as KPI figures) with at most 2 decimal places; JSON Schema cannot "
               "bound the places of a binary float"),
    Exception_("governance", "POST /policy/versions", ACCEPTANCE, field_errors("value_error", path="body"),
               "a policy's coherence spans its gates (exactly one budget gate, unique ids, a quorum the deciders "
               "can reach, a condition on a known field): rules over the whole document, answered with "
               "the reason"),
    Exception_("governance", "POST /metric-catalogue/versions", ACCEPTANCE, field_errors("value_error", path="body"),
               "a catalogue's keys are unique across its definitions: a rule over the whole list"),
    Exception_("budget", "POST /reallocations", ACCEPTANCE,
               problem("unprocessable", "budget line", "cannot reallocate a line to itself", "lines are in",
                       "the lines are in"),
               "the lines named must exist, differ and share the amount's currency: stored state, two fields"),
    Exception_("budget", "POST /budget-lines/{line_id}/adjustments", ACCEPTANCE,
               problem("unprocessable", "budget line"), "the new amount must be in the line's currency: stored state"),
    Exception_("budget", "POST /spend", ACCEPTANCE,
               problem("unprocessable", "a negative spend", "a spend cannot correct itself", "spend is in",
                       "corrects_reference names no", "the corrected spend", "the correction would take"),
               "a negative spend must name the recorded spend it corrects (of its campaign and currency); spend "
               "on a line is in its currency: the sign of an amount string, and stored state"),
    Exception_("budget", "POST /plans", ACCEPTANCE,
               problem("unprocessable", "the plan is in", "amount"),
               "a plan must be in the currency of the budget lines already in its scope: stored state"),
    Exception_("budget", "POST /plans/{plan_id}/adjustments", ACCEPTANCE, problem("unprocessable", "plan"),
               "the new amount must be in the plan's currency: stored state"),
    Exception_("budget", "PUT /budget-lines/{line_id}/phasing", ACCEPTANCE,
               problem("unprocessable", "the line is in", "the phasing adds up", "month ", "the amount of"),
               "a line is phased over the months of its own quarter, in its currency, up to its amount: stored "
               "state"),
    Exception_("budget", "POST /plan-imports", ACCEPTANCE, problem("invalid-plan-file"),
               "a plan file is CSV with a header and typed columns, checked row by row (every error in errors[]); "
               "a JSON Schema string cannot state that"),
    Exception_("budget", "POST /spend/{spend_id}/resolution", ACCEPTANCE,
               problem("unprocessable", "booking a spend needs", "budget line", "spend is in", "an excluded spend"),
               "booked needs an existing line of the spend's currency, excluded names none: stored state"),
)


def is_excepted(finding: Finding) -> bool:
    return any(e.service == finding.service and e.operation == finding.operation and e.check == finding.check
               and e.applies(finding) for e in EXCEPTIONS)


def fuzz_config(headers: dict[str, str], phases: tuple[str, ...] = PHASES) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "seed": 14,
        "cache": {"enabled": False},  # no state between runs: the same requests every time
        "headers": headers,
        "workers": 1,
        "continue-on-failure": True,
        "suppress-health-check": ["all"],
        # allow-x00: see NUL in the exceptions
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "deterministic": True, "no-shrink": True,
                       "database": "none", "allow-x00": False},
        "checks": {name: {"enabled": True} for name in CHECKS},
        "phases": {name: {"enabled": name in phases} for name in PHASES} | {
            "stateful": {"enabled": "stateful" in phases, "max-steps": STATEFUL_STEPS}},
    })


@dataclass
class Run:
    findings: list[Finding]
    errors: list[str]
    cases: int
    transitions: int
    phases: dict[str, str]
    seconds: dict[str, float]


def _json(content: bytes) -> object:
    try:
        return json.loads(content)
    except ValueError:
        return None


def fuzz(url: str, headers: dict[str, str], service: str, role: str) -> Run:
    phases = PHASES if role == COVERAGE_ROLE else tuple(p for p in PHASES if p != "coverage")
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=fuzz_config(headers, phases))
    schema.config.update(base_url=url)
    run = Run(findings=[], errors=[], cases=0, transitions=0, phases={}, seconds={})
    started: dict[str, float] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted):
            started[event.phase.name.value] = event.timestamp
            if isinstance(event.payload, events.StatefulPhasePayload):
                run.transitions = event.payload.transitions_total
        elif isinstance(event, events.PhaseFinished):
            run.phases[event.phase.name.value] = event.status.value
            run.seconds[event.phase.name.value] = round(event.timestamp - started.get(event.phase.name.value, event.timestamp), 1)
        elif isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            run.cases += len(recorder.cases)
            for case_id, nodes in recorder.checks.items():
                for node in nodes:
                    if node.failure_info is None:
                        continue
                    failure = node.failure_info.failure
                    interaction = recorder.interactions.get(failure.case_id or case_id)
                    response = interaction.response if interaction is not None else None
                    body = _json(response.content) if response is not None else None
                    run.findings.append(Finding(
                        service=service, role=role, check=node.name, operation=failure.operation,
                        title=failure.title, message=failure.message or "",
                        status=response.status_code if response is not None else None,
                        problem_type=body.get("type") if isinstance(body, dict) else None, body=body,
                        reproduce=node.failure_info.code_sample))
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"{event.label}: {event.info.format()}"[:800])
        elif isinstance(event, events.FatalError):
            raise event.exception
    return run


def unique(findings: list[Finding]) -> Iterator[Finding]:
    seen: set[tuple[str, str, str, int | None, str | None]] = set()
    for f in findings:
        key = (f.check, f.operation, f.title, f.status, f.problem_type)
        if key not in seen:
            seen.add(key)
            yield f


ROLES = {
    "ops_admin": lambda stack: stack.auth("fuzz-admin", "ops_admin", team=TEAM),
    "requester": lambda stack: stack.auth("fuzz-requester", "requester", team=TEAM),
    "viewer": lambda stack: stack.auth("fuzz-viewer", "viewer"),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("service", SERVICES)
def test_every_check_passes(e2e_stack, service: str, role: str) -> None:
    run = fuzz(e2e_stack.url(service), ROLES[role](e2e_stack), service, role)
    assert run.errors == [], "Schemathesis could not test some operations:\n" + "\n".join(run.errors)
    assert run.cases > 100, f"only {run.cases} requests were generated for {service}"
    expected = [p for p in PHASES if p != "coverage" or role == COVERAGE_ROLE]
    assert all(run.phases.get(p) in ("success", "failure", "skip") for p in expected), run.phases
    if service != "metrics":  # metrics has no commands, so no resource to follow
        assert run.transitions > 0, f"no stateful links were inferred for {service}"
    failures = [f for f in unique(run.findings) if not is_excepted(f)]
    assert failures == [], f"{len(failures)} check failure(s):\n" + "\n\n".join(map(str, failures))

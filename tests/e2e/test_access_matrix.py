"""The access model (SPEC section 5) as a role x endpoint x ownership matrix, over every route.

The four services run as processes (the e2e stack). One small journey makes the fixtures:
a campaign X (team growth) created by rita, edited by edna, owned by olga and submitted;
a draft Y with the same people (for the commands that would end X); a risk on X; budget
lines and a spend. Then every route of the four OpenAPI documents is called by each caller:

  viewer, approver, finance, ops_admin, service   the roles (no relationship to X)
  own_team      a requester of growth who never touched X
  other_team    a requester of brand
  owner         olga: requester of brand, X's owner
  author        edna: wrote X while in growth, now a requester of brand
  no_role       a valid token naming olga but carrying no known role

and the answer must be what MATRIX says: "ok" (2xx for a read; for a command: past the
access checks, i.e. neither 401, 403 nor 404), "hidden" (404: X is not disclosed),
"forbidden" (403), or for lists "listed"/"unlisted" (200, and X's id in it or not).
A route of an OpenAPI document with no entry here fails the suite, and so does an entry
for a route that no longer exists.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from marops_testkit.kafka import wait_for

in_module_loop = pytest.mark.asyncio(loop_scope="module")

SERVICES = ("intake", "governance", "budget", "metrics")
ROLES = ("viewer", "approver", "finance", "ops_admin", "service")
RELATIONS = ("own_team", "other_team", "owner", "author", "no_role")
CALLERS = ROLES + RELATIONS

# who is who (subject, roles, team)
TOKENS: dict[str, tuple[str, tuple[str, ...], str | None]] = {
    "viewer": ("vic", ("viewer",), None),
    "approver": ("alex", ("approver",), None),
    "finance": ("fin", ("finance",), None),
    "ops_admin": ("ada", ("ops_admin",), None),
    "service": ("gads-sync", ("service",), "growth"),
    "own_team": ("ravi", ("requester",), "growth"),
    "other_team": ("bob", ("requester",), "brand"),
    "owner": ("olga", ("requester",), "brand"),
    "author": ("edna", ("requester",), "brand"),
    "no_role": ("olga", (), "growth"),
}
CREATOR = ("rita", ("requester",), "growth")
# a directory entry: an approver governance tells of X's first gate
MATRIX_USER = "matrix-approver"
DIRECTORY_ENTRY = {"email": "matrix-approver@example.com", "roles": ["approver"]}

OK, HIDDEN, FORBIDDEN, LISTED, UNLISTED = "ok", "hidden", "forbidden", "listed", "unlisted"


def row(**expected: str) -> dict[str, str]:
    """An entry: every caller named, or ``others=`` for the rest."""
    others = expected.pop("others", None)
    unknown = set(expected) - set(CALLERS)
    assert not unknown, unknown
    full = {caller: expected.get(caller, others) for caller in CALLERS}
    assert None not in full.values(), f"no expectation for {[c for c, v in full.items() if v is None]}"
    return full  # type: ignore[return-value]


# Reading X: the read-everything roles, X's team requesters, its owner and authors.
READ_X = row(viewer=OK, approver=OK, finance=OK, ops_admin=OK, own_team=OK, owner=OK, author=OK,
             service=HIDDEN, other_team=HIDDEN, no_role=FORBIDDEN)
LIST_X = row(viewer=LISTED, approver=LISTED, finance=LISTED, ops_admin=LISTED, own_team=LISTED, owner=LISTED,
             author=LISTED, service=UNLISTED, other_team=UNLISTED, no_role=FORBIDDEN)
EVERY_ROLE = row(no_role=FORBIDDEN, others=OK)
PUBLIC = row(others=OK)
ADMIN_ONLY = row(ops_admin=OK, no_role=FORBIDDEN, others=FORBIDDEN)
# requesters (and ops_admin) write for their own team; others may not read X at all
EDIT_X = row(own_team=OK, ops_admin=OK, viewer=FORBIDDEN, approver=FORBIDDEN, finance=FORBIDDEN, owner=FORBIDDEN,
             author=FORBIDDEN, service=HIDDEN, other_team=HIDDEN, no_role=FORBIDDEN)
# the owner (and ops_admin) cancel, complete and transfer
OWNER_X = row(owner=OK, ops_admin=OK, viewer=FORBIDDEN, approver=FORBIDDEN, finance=FORBIDDEN, own_team=FORBIDDEN,
              author=FORBIDDEN, service=HIDDEN, other_team=HIDDEN, no_role=FORBIDDEN)
# gate decisions: deciders who are no party (four-eyes); the default policy gives brief_review to
# approvers only, so ops_admin has no decision right there
DECIDE_X = row(approver=OK, ops_admin=FORBIDDEN, viewer=FORBIDDEN, finance=FORBIDDEN, own_team=FORBIDDEN,
               owner=FORBIDDEN, author=FORBIDDEN, service=HIDDEN, other_team=HIDDEN, no_role=FORBIDDEN)
# risks: requesters of the team, approvers, finance, ops_admin; viewers and strangers not
RISK_EDIT_X = row(own_team=OK, approver=OK, finance=OK, ops_admin=OK, viewer=FORBIDDEN, owner=FORBIDDEN,
                  author=FORBIDDEN, service=FORBIDDEN, other_team=HIDDEN, no_role=FORBIDDEN)
RISK_ACCEPT_X = row(approver=OK, ops_admin=OK, viewer=FORBIDDEN, finance=FORBIDDEN, own_team=FORBIDDEN,
                    owner=FORBIDDEN, author=FORBIDDEN, service=FORBIDDEN, other_team=FORBIDDEN, no_role=FORBIDDEN)
FINANCE_ONLY = row(finance=OK, ops_admin=OK, no_role=FORBIDDEN, others=FORBIDDEN)
SPEND_WRITE = row(finance=OK, ops_admin=OK, service=OK, no_role=FORBIDDEN, others=FORBIDDEN)
REQUESTERS = row(own_team=OK, other_team=OK, owner=OK, author=OK, ops_admin=OK, no_role=FORBIDDEN,
                 others=FORBIDDEN)
METRICS_READ = row(service=FORBIDDEN, no_role=FORBIDDEN, others=OK)  # metrics serves people, not systems
METRICS_READ_X = {**READ_X, "service": FORBIDDEN}
METRICS_LIST_X = {**LIST_X, "service": FORBIDDEN}

MATRIX: dict[tuple[str, str, str], dict[str, str]] = {
    **{(s, "GET", "/healthz"): PUBLIC for s in SERVICES},
    **{(s, "GET", "/readyz"): PUBLIC for s in SERVICES},
    **{(s, "GET", "/me"): EVERY_ROLE for s in SERVICES},
    # intake
    ("intake", "POST", "/campaigns"): REQUESTERS,
    ("intake", "GET", "/campaigns"): LIST_X,
    ("intake", "GET", "/campaigns/{campaign_id}"): READ_X,
    ("intake", "PATCH", "/campaigns/{campaign_id}/brief"): EDIT_X,
    ("intake", "GET", "/campaigns/{campaign_id}/completeness"): READ_X,
    ("intake", "POST", "/briefs/check"): EVERY_ROLE,
    ("intake", "POST", "/campaigns/{campaign_id}/submit"): EDIT_X,
    ("intake", "POST", "/campaigns/{campaign_id}/cancel"): OWNER_X,
    ("intake", "POST", "/campaigns/{campaign_id}/owner"): OWNER_X,
    ("intake", "POST", "/campaigns/{campaign_id}/complete"): OWNER_X,
    ("intake", "POST", "/campaigns/{campaign_id}/pause"): OWNER_X,
    ("intake", "POST", "/campaigns/{campaign_id}/resume"): OWNER_X,
    ("intake", "POST", "/campaigns/{campaign_id}/changes"): OWNER_X,
    # the owner, ops_admin or a service token naming its source system (X is not launched: allowed get 409)
    ("intake", "POST", "/campaigns/{campaign_id}/results"): {**OWNER_X, "service": OK},
    ("intake", "GET", "/campaigns/{campaign_id}/results"): READ_X,
    ("intake", "GET", "/campaigns/{campaign_id}/versions"): READ_X,
    ("intake", "GET", "/campaigns/{campaign_id}/versions/{version}"): READ_X,
    ("intake", "GET", "/campaigns/{campaign_id}/versions/{version}/diff"): READ_X,
    ("intake", "POST", "/campaigns/{campaign_id}/retrospective"): OWNER_X,  # X is not completed: allowed get 409
    ("intake", "GET", "/lessons"): EVERY_ROLE,
    # capacity: ops admins (or the team's lead: an approver of that team, none here); the report
    # is read by every role, its demand counted over the campaigns the caller may read
    ("intake", "PUT", "/teams/{team}/capacity"): ADMIN_ONLY,
    ("intake", "GET", "/teams/{team}/capacity"): EVERY_ROLE,
    # governance
    ("governance", "GET", "/policy"): EVERY_ROLE,
    ("governance", "GET", "/policy/versions"): EVERY_ROLE,
    ("governance", "POST", "/policy/versions"): ADMIN_ONLY,
    ("governance", "GET", "/policy/versions/{version}"): EVERY_ROLE,
    ("governance", "GET", "/policy/audit"): EVERY_ROLE,
    ("governance", "GET", "/metric-catalogue"): EVERY_ROLE,
    ("governance", "GET", "/metric-catalogue/versions"): EVERY_ROLE,
    ("governance", "POST", "/metric-catalogue/versions"): ADMIN_ONLY,
    ("governance", "GET", "/metric-catalogue/versions/{version}"): EVERY_ROLE,
    ("governance", "GET", "/campaigns/{campaign_id}"): READ_X,
    ("governance", "GET", "/campaigns/{campaign_id}/gates"): READ_X,
    ("governance", "POST", "/campaigns/{campaign_id}/gates/{gate_id}/decisions"): DECIDE_X,
    ("governance", "GET", "/queue"): row(approver=LISTED, no_role=FORBIDDEN, others=UNLISTED),
    ("governance", "GET", "/campaigns/{campaign_id}/readiness"): READ_X,
    ("governance", "POST", "/campaigns/{campaign_id}/launch"): OWNER_X,
    ("governance", "GET", "/campaigns/{campaign_id}/raci"): READ_X,
    ("governance", "PUT", "/campaigns/{campaign_id}/raci"): row(ops_admin=OK, no_role=FORBIDDEN, others=FORBIDDEN),
    ("governance", "GET", "/campaigns/{campaign_id}/risks"): READ_X,
    ("governance", "POST", "/campaigns/{campaign_id}/risks"): RISK_EDIT_X,
    ("governance", "PATCH", "/campaigns/{campaign_id}/risks/{risk_id}"): RISK_EDIT_X,
    ("governance", "POST", "/campaigns/{campaign_id}/risks/{risk_id}/accept"): RISK_ACCEPT_X,
    ("governance", "GET", "/campaigns/{campaign_id}/audit"): READ_X,
    # notifications: the directory (personal addresses) and the delivery log are ops_admin's
    ("governance", "GET", "/directory/users"): ADMIN_ONLY,
    ("governance", "PUT", "/directory/users/{subject}"): ADMIN_ONLY,
    ("governance", "GET", "/directory/users/{subject}"): ADMIN_ONLY,
    ("governance", "DELETE", "/directory/users/{subject}"): ADMIN_ONLY,
    ("governance", "GET", "/notifications"): ADMIN_ONLY,
    ("governance", "GET", "/notifications/{delivery_id}"): ADMIN_ONLY,
    ("governance", "POST", "/notifications/{delivery_id}/replay"): ADMIN_ONLY,
    # budget: lines and reallocations are the finance plan, not campaign data
    ("budget", "POST", "/budget-lines"): FINANCE_ONLY,
    ("budget", "GET", "/budget-lines"): EVERY_ROLE,
    ("budget", "GET", "/budget-lines/{line_id}"): EVERY_ROLE,
    ("budget", "POST", "/budget-lines/{line_id}/adjustments"): FINANCE_ONLY,
    ("budget", "GET", "/budget-lines/{line_id}/history"): EVERY_ROLE,
    ("budget", "POST", "/reallocations"): FINANCE_ONLY,
    ("budget", "GET", "/reallocations"): EVERY_ROLE,
    ("budget", "POST", "/spend"): SPEND_WRITE,
    ("budget", "GET", "/spend"): LIST_X,
    ("budget", "GET", "/spend/{spend_id}"): READ_X,
    ("budget", "POST", "/spend/{spend_id}/resolution"): FINANCE_ONLY,
    ("budget", "GET", "/campaigns/{campaign_id}/budget"): READ_X,
    ("budget", "GET", "/reports/monthly"): EVERY_ROLE,
    # annual plans are the finance plan too; the campaign rows inside a report are filtered
    ("budget", "POST", "/plans"): FINANCE_ONLY,
    ("budget", "GET", "/plans"): EVERY_ROLE,
    ("budget", "GET", "/plans/{plan_id}"): EVERY_ROLE,
    ("budget", "POST", "/plans/{plan_id}/adjustments"): FINANCE_ONLY,
    ("budget", "POST", "/plan-imports"): FINANCE_ONLY,
    ("budget", "PUT", "/budget-lines/{line_id}/phasing"): FINANCE_ONLY,
    ("budget", "GET", "/budget-lines/{line_id}/phasing"): EVERY_ROLE,
    ("budget", "GET", "/budget-lines/{line_id}/forecast"): EVERY_ROLE,
    # metrics
    ("metrics", "GET", "/campaigns"): METRICS_LIST_X,
    ("metrics", "GET", "/campaigns/{campaign_id}/timeline"): METRICS_READ_X,
    ("metrics", "GET", "/campaigns/{campaign_id}/overview"): METRICS_READ_X,
    ("metrics", "GET", "/operations/dead-letters"): METRICS_READ,
    # X has neither a change nor a pause, so these list it for nobody: the read rule of
    # their rows is checked in services/metrics/tests (Scope, as every report)
    ("metrics", "GET", "/changes/campaigns"): METRICS_READ,
    ("metrics", "GET", "/aggregates/change-in-flight"): METRICS_READ,
    **{("metrics", "GET", f"/aggregates/{name}"): METRICS_READ
       for name in ("cycle-time", "gate-times", "sla-breaches", "rework", "on-time", "data-completeness",
                    "variance/campaigns", "variance/months", "variance/budget-lines", "outcomes")},
    ("metrics", "GET", "/outcomes/campaigns"): METRICS_LIST_X,
    ("metrics", "GET", "/reviews"): METRICS_READ,
    ("metrics", "GET", "/summary"): METRICS_READ,
    ("metrics", "GET", "/status"): METRICS_READ,
    ("metrics", "POST", "/admin/rebuild"): ADMIN_ONLY,
    ("metrics", "GET", "/admin/rebuilds/{run_id}"): ADMIN_ONLY,
}

CATALOGUE = {"definitions": [{"key": "qualified_leads", "name": "Qualified leads", "unit": "leads", "kind": "outcome"}],
             "reason": "matrix"}


@dataclass
class World:
    """The fixtures the matrix's calls refer to."""

    x: str  # submitted campaign
    y: str  # draft with the same people
    risk_id: str
    line_a: str
    line_b: str
    policy: dict[str, Any]
    rebuild_id: str
    spend_id: int
    plan_id: str
    delivery_id: str  # the approver's notification of X's first gate


class Calls:
    def __init__(self, stack: Any, client: httpx.AsyncClient) -> None:
        self.stack, self.client = stack, client

    def headers(self, caller: str | tuple[str, tuple[str, ...], str | None]) -> dict[str, str]:
        subject, roles, team = TOKENS[caller] if isinstance(caller, str) else caller
        # a service account's token names the source systems it records spend for
        systems = ["gads-sync"] if "service" in roles else None
        return self.stack.auth(subject, *roles, team=team, source_systems=systems)

    async def call(self, service: str, method: str, path: str, caller: Any, body: Any = None,
                   params: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.request(method, f"{self.stack.url(service)}{path}", json=body, params=params,
                                         headers=self.headers(caller))

    async def ok(self, service: str, method: str, path: str, caller: Any, body: Any = None,
                 expect: int = 200) -> Any:
        response = await self.call(service, method, path, caller, body)
        assert response.status_code == expect, f"{method} {service}{path}: {response.status_code} {response.text}"
        return response.json()


def brief_body(line: str, target: date) -> dict[str, Any]:
    return {
        "title": "Matrix webinars", "objective": "Qualified demand", "target_audience": "Data leads",
        "channels": ["email"], "target_launch_date": target.isoformat(), "flight_start": target.isoformat(),
        "flight_end": (target + timedelta(days=30)).isoformat(), "owner": "olga",
        "kpis": [{"metric": "qualified_leads", "target": "100", "unit": "leads", "timeframe": "6 weeks"}],
        "tracking_plan": {"campaign_code": "matrix", "conversion_events": ["signup"],
                          "reporting_destination": "Dashboard"},
        "budget_request": {"amount": {"amount": "1000.00", "currency": "EUR"}, "budget_line_id": line},
        "raci": {"responsible": ["rita"], "informed": ["sales"]},
    }


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def calls(e2e_stack: Any) -> Any:
    async with httpx.AsyncClient(timeout=30) as client:
        yield Calls(e2e_stack, client)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(calls: Calls) -> World:
    today = datetime.now(UTC).date()
    quarter = (today.month - 1) // 3 + 1
    lines = []
    for team in ("growth", "brand"):
        line_id = f"matrix-{team}-{uuid.uuid4().hex[:6]}"
        await calls.ok("budget", "POST", "/budget-lines", "finance", {
            "id": line_id, "name": line_id, "fiscal_year": today.year, "quarter": quarter, "team": team,
            "channel": "email", "amount": {"amount": "50000.00", "currency": "EUR"}}, expect=201)
        lines.append(line_id)
    rita, edna_then = CREATOR, ("edna", ("requester",), "growth")
    ids = []
    for _ in range(2):
        created = await calls.ok("intake", "POST", "/campaigns", rita, brief_body(lines[0], today + timedelta(40)),
                                 expect=201)
        await calls.ok("intake", "PATCH", f"/campaigns/{created['id']}/brief", edna_then, {"notes": "edna was here"})
        ids.append(created["id"])
    x, y = ids
    await calls.ok("governance", "PUT", f"/directory/users/{MATRIX_USER}", "ops_admin", DIRECTORY_ENTRY)
    await calls.ok("intake", "POST", f"/campaigns/{x}/submit", rita)

    async def known_everywhere() -> bool:
        gov = await calls.call("governance", "GET", f"/campaigns/{x}", "viewer")
        bud = await calls.call("budget", "GET", f"/campaigns/{x}/budget", "viewer")
        met = await calls.call("metrics", "GET", f"/campaigns/{x}/timeline", "viewer")
        return gov.status_code == bud.status_code == met.status_code == 200
    await wait_for(known_everywhere, timeout=60, interval=0.2, message=f"governance, budget and metrics know {x}")
    spend = await calls.ok("budget", "POST", "/spend", "finance", {
        "campaign_id": x, "source_system": "finance-manual", "source_reference": f"inv-{uuid.uuid4().hex[:8]}",
        "amount": {"amount": "10.00", "currency": "EUR"}, "incurred_on": today.isoformat()}, expect=201)
    risk = await calls.ok("governance", "POST", f"/campaigns/{x}/risks", "own_team", {
        "description": "Pixel not approved", "owner": "lee", "probability": 1, "impact": 2}, expect=201)
    policy = await calls.ok("governance", "GET", "/policy", "viewer")
    plan = await calls.ok("budget", "POST", "/plans", "finance", {
        "fiscal_year": today.year, "team": f"matrix-plans-{uuid.uuid4().hex[:6]}",
        "amount": {"amount": "1000.00", "currency": "EUR"}}, expect=201)
    await calls.ok("governance", "POST", "/metric-catalogue/versions", "ops_admin", CATALOGUE, expect=201)
    rebuild = await calls.ok("metrics", "POST", "/admin/rebuild", "ops_admin", expect=202)

    async def notified() -> str | None:
        log = await calls.ok("governance", "GET", f"/notifications?campaign_id={x}", "ops_admin")
        return next((d["id"] for d in log["items"] if d["recipient"] == MATRIX_USER), None)
    delivery_id = await wait_for(notified, timeout=30, interval=0.2, message=f"{MATRIX_USER} is told of {x}")
    return World(x=x, y=y, risk_id=risk["risk_id"], line_a=lines[0], line_b=lines[1], policy=policy,
                 rebuild_id=rebuild["run_id"], spend_id=spend["id"], plan_id=plan["id"],
                 delivery_id=delivery_id)


def request_for(route: tuple[str, str, str], w: World, caller: str) -> tuple[str, Any, dict[str, str] | None]:
    """The concrete path, body and query of one call: valid, so a refusal can only be access."""
    service, method, template = route
    today = datetime.now(UTC).date()
    # commands that would end X run against the draft Y (same people); the rest against X
    campaign = w.y if template.endswith(("/cancel", "/complete", "/owner", "/brief", "/submit")) else w.x
    path = (template.replace("{campaign_id}", campaign).replace("{version}", "1").replace("{gate_id}", "brief_review")
            .replace("{risk_id}", w.risk_id).replace("{line_id}", w.line_a).replace("{run_id}", w.rebuild_id)
            .replace("{spend_id}", str(w.spend_id)).replace("{plan_id}", w.plan_id).replace("{team}", "growth")
            .replace("{delivery_id}", w.delivery_id)
            .replace("{subject}", "matrix-gone" if method == "DELETE" else MATRIX_USER))
    body: Any = None
    params = None
    match (service, method, template):
        case ("intake", "POST", "/campaigns"):
            body = {"title": "matrix draft"}
        case ("intake", "PATCH", _):
            body = {"notes": f"edited by {caller}"}
        case ("intake", "POST", "/briefs/check"):
            body = {"title": "x"}
        case ("intake", "POST", "/campaigns/{campaign_id}/cancel"):
            body = {"reason": "matrix"}
        case ("intake", "POST", "/campaigns/{campaign_id}/owner"):
            body = {"owner": "olga", "reason": "matrix"}  # olga owns it: allowed callers get 409
        case ("intake", "POST", "/campaigns/{campaign_id}/complete"):
            body = {"results": []}
        case ("intake", "POST", "/campaigns/{campaign_id}/results"):
            body = {"source_system": "gads-sync" if caller == "service" else "intake",
                    "source_reference": f"matrix-{caller}", "as_of": today.isoformat(),
                    "results": [{"metric": "qualified_leads", "actual": 1}]}
        case ("intake", "POST", "/campaigns/{campaign_id}/retrospective"):
            body = {"lessons": [f"matrix lesson by {caller}"]}
        case ("intake", "POST", "/campaigns/{campaign_id}/pause" | "/campaigns/{campaign_id}/resume"):
            body = {"reason": "matrix"}  # X is not in flight: allowed callers get 409
        case ("intake", "POST", "/campaigns/{campaign_id}/changes"):
            body = {"reason": "matrix", "channels": ["email"]}
        case ("governance", "POST", "/metric-catalogue/versions"):
            body = CATALOGUE
        case ("intake", "PUT", "/teams/{team}/capacity"):
            body = {"unit": "hours", "weekly": 400}
        case ("governance", "POST", "/policy/versions"):
            doc = {k: v for k, v in w.policy.items()
                   if k not in ("version", "effective_from", "created_by", "created_at", "reason")}
            body = {**doc, "reason": "matrix re-publishes the policy unchanged"}
        case ("governance", "POST", "/campaigns/{campaign_id}/gates/{gate_id}/decisions"):
            body = {"decision": "approve", "brief_version": 1}
        case ("governance", "POST", "/campaigns/{campaign_id}/launch"):
            body = {"brief_version": 1}
        case ("governance", "PUT", _):
            body = {"responsible": ["rita"], "accountable": "olga", "reason": "matrix"}
        case ("governance", "POST", "/campaigns/{campaign_id}/risks"):
            body = {"description": f"risk by {caller}", "owner": "lee", "probability": 1, "impact": 1}
        case ("governance", "PATCH", _):
            body = {"description": f"reworded by {caller}"}
        case ("governance", "POST", "/campaigns/{campaign_id}/risks/{risk_id}/accept"):
            body = {"reason": "acceptable for the matrix"}
        case ("governance", "PUT", "/directory/users/{subject}"):
            body = DIRECTORY_ENTRY
        case ("budget", "POST", "/budget-lines"):
            body = {"id": f"matrix-{uuid.uuid4().hex[:8]}", "name": "matrix", "fiscal_year": today.year, "quarter": 1,
                    "team": "growth", "channel": "email", "amount": {"amount": "1.00", "currency": "EUR"}}
        case ("budget", "POST", "/budget-lines/{line_id}/adjustments"):
            body = {"amount": {"amount": "50000.00", "currency": "EUR"}, "reason": "matrix keeps it"}
        case ("budget", "POST", "/reallocations"):
            body = {"from_line_id": w.line_b, "to_line_id": w.line_a, "amount": {"amount": "0.01", "currency": "EUR"},
                    "reason": "matrix"}
        case ("budget", "POST", "/spend"):
            body = {"campaign_id": w.x, "source_system": "gads-sync" if caller == "service" else "finance-manual",
                    "source_reference": f"matrix-{uuid.uuid4().hex[:8]}",
                    "amount": {"amount": "0.01", "currency": "EUR"}, "incurred_on": today.isoformat()}
        case ("budget", "POST", "/plans"):
            body = {"fiscal_year": today.year, "team": f"matrix-{uuid.uuid4().hex[:8]}",
                    "amount": {"amount": "1.00", "currency": "EUR"}}
        case ("budget", "POST", "/plans/{plan_id}/adjustments"):
            body = {"amount": {"amount": "1000.00", "currency": "EUR"}, "reason": "matrix keeps it"}
        case ("budget", "PUT", "/budget-lines/{line_id}/phasing"):
            body = {"months": []}
        case ("budget", "POST", "/spend/{spend_id}/resolution"):
            body = {"resolution": "excluded", "reason": "matrix"}  # it is booked: allowed callers get 409
        case ("budget", "GET", "/spend"):
            params = {"limit": "1000"}
    return path, body, params


def outcome(expected: str, response: httpx.Response, method: str, x: str) -> bool:
    status = response.status_code
    if expected == HIDDEN:
        return status == 404
    if expected == FORBIDDEN:
        return status == 403
    if expected in (LISTED, UNLISTED):
        return status == 200 and (x in response.text) is (expected == LISTED)
    if method == "GET":
        return 200 <= status < 300
    return status not in (401, 403, 404) and status < 500


@in_module_loop
async def test_the_matrix_covers_every_route_of_the_four_openapi_documents(calls: Calls) -> None:
    routes: set[tuple[str, str, str]] = set()
    for service in SERVICES:
        document = (await calls.client.get(f"{calls.stack.url(service)}/openapi.json")).json()
        routes |= {(service, method.upper(), path) for path, operations in document["paths"].items()
                   for method in operations if method in ("get", "post", "put", "patch", "delete")}
    assert sorted(routes - MATRIX.keys()) == [], "routes with no entry in the access matrix"
    assert sorted(MATRIX.keys() - routes) == [], "matrix entries for routes that no longer exist"


@in_module_loop
@pytest.mark.parametrize("route", sorted(MATRIX), ids=lambda r: f"{r[0]} {r[1]} {r[2]}")
async def test_each_caller_gets_what_the_access_model_says(route: tuple[str, str, str], calls: Calls,
                                                           world: World) -> None:
    service, method, _ = route
    wrong = []
    # callers expected to be refused first: an allowed command must not change what they see
    order = sorted(CALLERS, key=lambda caller: MATRIX[route][caller] in (OK, LISTED))
    for caller in order:
        expected = MATRIX[route][caller]
        path, body, params = request_for(route, world, caller)
        response = await calls.call(service, method, path, caller, body, params)
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json", (caller, response.text)
        if not outcome(expected, response, method, world.x):
            wrong.append(f"{caller}: expected {expected}, got {response.status_code} {response.text[:200]}")
    assert wrong == [], f"{method} {service}{route[2]}"

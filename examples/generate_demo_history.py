"""Generate examples/demo-history.csv: a realistic, deterministic history for `make demo`.

    .venv/bin/python examples/generate_demo_history.py            # (re)write examples/demo-history.csv
    .venv/bin/python examples/generate_demo_history.py --check    # exit 1 if the committed file is stale
    .venv/bin/python examples/generate_demo_history.py -o FILE    # write elsewhere ("-" for stdout)

The file is in the `marops import` format (docs/history-import.md) and is regenerated
byte for byte from a fixed seed: same code, same file. tests/test_demo_history.py fails
when the committed CSV and this generator disagree, so edit the generator, run it, and
commit both.

What the history contains (everything happens between 2026-01-05 and AS_OF, 2026-06-30
20:00 UTC; nothing after AS_OF is written, so work still under way at that moment is
simply undecided, unlaunched or not yet fully spent):

- Two quarters, 2026 Q1 and Q2: 13 campaigns for each of four teams (growth, brand,
  product-marketing, lifecycle), 52 in all, about one per team every 12 days, each
  submitted on a weekday in business hours with a target launch date 4 to 8 weeks later.
- The gates of the default governance policy, in policy order, with its SLAs:
  brief_review (48 h), budget_approval (72 h, gate kind `budget`), brand_legal_review
  (72 h; only for a version with a public-facing channel: paid/organic social, display,
  video, out-of-home, print, PR) and launch_readiness (24 h). Each gate becomes actionable
  when the previous one is approved, the first when the version is submitted.
- A visible bottleneck: brand/legal waits are long and heavy-tailed (its p90 is more than
  twice any other gate's), so it breaches its SLA often; the other gates breach now and
  then.
- Rework: about a third of the briefs are sent back (changes requested) at some gate and
  resubmitted as version 2 (a few need a version 3), sometimes with another amount, a
  later target date, a tracking plan added or fewer channels (which can drop the
  brand/legal gate); two briefs are rejected outright and go no further.
- Budget: a `committed` row with every budget approval (a later version's commitment
  replaces the earlier one). Spend arrives monthly from three source systems by channel:
  google-ads (search, display, video), meta-ads (social) and sap-ap (finance invoices for
  everything else); roughly a third of the launched campaigns over-spend their
  commitment, the rest under-spend (campaigns still running have only spent to date).
  EUR, with USD (brand, US lines) and GBP (lifecycle, UK lines).
  Two campaigns get a credit note: a negative spend naming the invoice it corrects in
  `corrects_reference` (REFUNDS switches them off).
- Launches: most on or before the target date, some late (slipped, or held up by the
  gates); one launch is written with a +02:00 offset (on time by its UTC date, a day late
  by its local date). Some campaigns launched without a tracking plan or without KPIs
  (data completeness below 100 %); one brief had a tracking plan but the launch row says
  it was not live at launch.
- Change in flight, after launch: campaigns paused and resumed (one twice), a budget
  top-up approved at the budget gate and committed, a trim approved at once (less money
  passes no gate under the default change rules), and a flight extension rejected at the
  brief review; drawn from a random stream of their own, so the rest of the story is
  unchanged.
- Two cancellations (one after its budget was committed and a deposit paid, one while
  waiting for budget), completions after the end of each finished flight, and campaigns
  still in flight at AS_OF (gates pending, or approved and waiting for their launch date).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import random
import sys
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

SEED = 20260630
REFUNDS = True  # credit notes: negative spend with `corrects_reference`
OUTPUT = Path(__file__).resolve().parent / "demo-history.csv"
UTC = dt.UTC
START = dt.datetime(2026, 1, 5, tzinfo=UTC)
AS_OF = dt.datetime(2026, 6, 30, 20, 0, tzinfo=UTC)

COLUMNS = (
    "campaign_id", "event", "at", "version", "title", "team", "owner", "requester", "objective", "channels",
    "target_launch_date", "flight_start", "flight_end", "amount", "currency", "budget_line_id", "kpis",
    "tracking_plan", "gate", "gate_kind", "decided_by", "sla_hours", "reason", "rejection_kind", "launched_by",
    "kpis_defined", "source_system", "source_reference", "incurred_on", "description", "cancelled_by",
    "completed_by",
) + (("corrects_reference",) if REFUNDS else ()) + ("changes", "requested_by", "outcome", "paused_by", "resumed_by")

# (gate id, SLA hours, deciders) in policy order: the default policy of the governance service.
GATES = (
    ("brief_review", 48, ("lena", "priya")),
    ("budget_approval", 72, ("frank", "fiona")),
    ("brand_legal_review", 72, ("bianca", "leo")),
    ("launch_readiness", 24, ("omar", "sofia")),
)
SLA = {gate: sla for gate, sla, _ in GATES}
PUBLIC_FACING = {"paid_social", "organic_social", "display", "video", "out_of_home", "print", "pr"}

SOURCE_OF_CHANNEL = {
    "paid_search": "google-ads", "display": "google-ads", "video": "google-ads",
    "paid_social": "meta-ads", "organic_social": "meta-ads",
}
FINANCE_SOURCE = "sap-ap"
REFERENCE_PREFIX = {"google-ads": "GADS", "meta-ads": "META", FINANCE_SOURCE: "AP"}

REASONS = {
    "brief_review": ["Audience too broad; narrow the segments", "Objective not measurable as written",
                     "KPIs have no targets", "No tracking plan attached"],
    "budget_approval": ["Amount above the line's remaining plan; phase it", "Media split not justified",
                        "Agency fee not itemised"],
    "brand_legal_review": ["Claims need substantiation", "Logo usage off-brand", "Pricing disclaimer missing",
                           "Influencer disclosure missing", "Music licence not cleared for paid use"],
    "launch_readiness": ["UTM parameters not set up", "Landing page not live"],
}

# Per team: owners, requesters, campaigns (title, channels) -- 13 per team, in submission order.
TEAMS: dict[str, dict] = {
    "growth": {
        "owners": ("olivia", "marco"), "requesters": ("rachel", "tom"), "amount": (8000, 45000),
        "kpis": "qualified_leads={n} leads; cost_per_lead=45 EUR",
        "campaigns": [
            ("New year search push", ["paid_search"]), ("Retargeting refresh", ["paid_social", "display"]),
            ("Free trial acquisition", ["paid_search", "paid_social"]), ("Partner affiliate launch", ["affiliate"]),
            ("Comparison pages", ["paid_search", "content"]), ("Spring promo", ["paid_social", "email"]),
            ("Lookalike audiences test", ["paid_social"]), ("Display prospecting", ["display"]),
            ("Summer trial offer", ["paid_search", "display"]), ("App install drive", ["paid_social"]),
            ("Competitor conquesting", ["paid_search"]), ("Webinar lead gen", ["paid_social", "email"]),
            ("Back to school preview", ["paid_search", "paid_social"]),
        ],
    },
    "brand": {
        "owners": ("bo", "ines"), "requesters": ("nora", "felix"), "amount": (15000, 120000),
        "kpis": "aided_awareness=4 points; video_completion_rate=35 percent",
        "campaigns": [
            ("Brand film 2026", ["video"]), ("City billboards", ["out_of_home"]),
            ("Sustainability report launch", ["pr", "organic_social"]), ("Podcast sponsorship", ["content"]),
            ("Spring OOH wave", ["out_of_home", "display"]), ("Magazine series", ["print"]),
            ("Creator collaborations", ["organic_social", "video"]), ("Stadium partnership", ["events", "pr"]),
            ("Brand refresh teaser", ["video", "display"]), ("Summer TV-style online video", ["video"]),
            ("Trade press campaign", ["print", "pr"]), ("US awareness push", ["video", "display"]),
            ("Festival presence", ["events", "organic_social"]),
        ],
    },
    "product-marketing": {
        "owners": ("paula", "dev"), "requesters": ("sam", "yuki"), "amount": (3000, 30000),
        "kpis": "feature_adoption=12 percent; demo_requests={n} requests",
        "campaigns": [
            ("Release 4.2 launch", ["email", "content"]), ("Integrations week", ["content"]),
            ("Analytics add-on launch", ["email", "paid_social"]), ("Customer conference", ["events"]),
            ("Case study series", ["content", "email"]), ("Pricing page relaunch", ["content"]),
            ("Mobile app 3.0", ["email", "paid_social", "pr"]), ("Partner enablement kit", ["content"]),
            ("AI assistant beta", ["email", "pr"]), ("Security whitepaper", ["content"]),
            ("Roadshow Q2", ["events"]), ("Release 4.3 launch", ["email", "content"]),
            ("Developer portal", ["content", "organic_social"]),
        ],
    },
    "lifecycle": {
        "owners": ("hana", "liam"), "requesters": ("zoe", "omid"), "amount": (2000, 15000),
        "kpis": "reactivated_customers={n} customers; unsubscribe_rate=0.4 percent",
        "campaigns": [
            ("Onboarding journey v2", ["email"]), ("Win-back winter", ["email", "sms"]),
            ("Renewal reminders", ["email"]), ("Loyalty tier launch", ["email", "direct_mail"]),
            ("Churn save offers", ["sms"]), ("Spring newsletter redesign", ["email"]),
            ("Referral programme", ["email", "paid_social"]), ("Dormant account nudge", ["sms", "email"]),
            ("Anniversary mailer", ["direct_mail"]), ("Upgrade path emails", ["email"]),
            ("Summer win-back", ["email", "sms"]), ("NPS follow-up", ["email"]),
            ("VIP event invitations", ["direct_mail", "events"]),
        ],
    },
}


def money(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def slug(text: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


@dataclass
class Brief:
    version: int
    at: dt.datetime
    channels: list[str]
    target: dt.date
    amount: Decimal
    kpis: str
    tracking: bool
    flight_days: int

    @property
    def gates(self) -> list[str]:
        public = bool(PUBLIC_FACING & set(self.channels))
        return [g for g, _, _ in GATES if g != "brand_legal_review" or public]


@dataclass
class Campaign:
    cid: str
    team: str
    title: str
    owner: str
    requester: str
    currency: str
    line: str
    rows: list[dict] = field(default_factory=list)

    def row(self, event: str, at: dt.datetime, **values: object) -> None:
        if at > AS_OF:
            raise _Truncated
        self.rows.append({"campaign_id": self.cid, "event": event, "at": iso(at),
                          **{k: str(v) for k, v in values.items() if v is not None and v != ""}})


class _Truncated(Exception):
    """The next fact would happen after AS_OF: the history stops here for this campaign."""


CHANGE_STORIES = ("pause_and_top_up", "pause_twice", "trim", "late_extension", "pause")


def _at(row: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(row["at"]).astimezone(UTC)


class Generator:
    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.references: dict[str, int] = {}
        self.campaigns: list[Campaign] = []

    # --- small draws ----------------------------------------------------------------

    def hours(self, low: float, high: float) -> dt.timedelta:
        """A duration in whole quarter-hours between low and high hours."""
        return dt.timedelta(minutes=15 * round(self.rng.uniform(low, high) * 4))

    def working_time(self, day: dt.date) -> dt.datetime:
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        return dt.datetime(day.year, day.month, day.day, self.rng.randint(8, 16), self.rng.choice((0, 15, 30, 45)),
                           tzinfo=UTC)

    def gate_wait(self, gate: str) -> dt.timedelta:
        r = self.rng.random()
        if gate == "brief_review":
            return self.hours(52, 90) if r < 0.12 else self.hours(2, 40)
        if gate == "budget_approval":
            return self.hours(76, 130) if r < 0.12 else self.hours(6, 60)
        if gate == "brand_legal_review":
            return self.hours(110, 270) if r < 0.40 else self.hours(26, 110)
        return self.hours(26, 40) if r < 0.10 else self.hours(1, 18)

    def reference(self, source: str, incurred: dt.date) -> str:
        self.references[source] = self.references.get(source, 0) + 1
        return f"{REFERENCE_PREFIX[source]}-{incurred:%Y%m}-{self.references[source]:04d}"

    # --- the history ----------------------------------------------------------------

    def generate(self) -> list[dict]:
        plans = []
        for team, spec in TEAMS.items():
            for index, (title, channels) in enumerate(spec["campaigns"]):
                plans.append((team, index, title, channels))
        # Submissions spread over the half-year: campaign i of every team around day 12*i.
        plans.sort(key=lambda p: (p[1], list(TEAMS).index(p[0])))
        special = {  # a few campaigns whose fate is fixed so the story always has them
            ("product-marketing", 3): "cancel_after_commit",    # Customer conference
            ("lifecycle", 6): "cancel_before_budget",            # Referral programme
            ("growth", 3): "reject_outright_brief",              # Partner affiliate launch
            ("brand", 8): "reject_outright_budget",              # Brand refresh teaser
            ("brand", 5): "rework_twice",                        # Magazine series
            ("growth", 1): "rework_drop_channel",                # Retargeting refresh
            ("lifecycle", 1): "rework_tracking",                 # Win-back winter
            ("growth", 4): "launch_offset",                      # Comparison pages
            ("brand", 2): "refund",                              # Sustainability report launch
            ("growth", 5): "refund",                             # Spring promo
            ("product-marketing", 5): "tracking_not_live",       # Pricing page relaunch
        }
        for team, index, title, channels in plans:
            self.campaign(team, index, title, list(channels), special.get((team, index), ""))
        self.in_flight()
        # each campaign's facts in time order (the importer sorts too; this is for readers)
        return [row for c in self.campaigns
                for row in sorted(c.rows, key=lambda r: dt.datetime.fromisoformat(r["at"]))]

    def campaign(self, team: str, index: int, title: str, channels: list[str], special: str) -> None:
        rng, spec = self.rng, TEAMS[team]
        currency, line_suffix = "EUR", ""
        if team == "brand" and ("US" in title or rng.random() < 0.2):
            currency, line_suffix = "USD", "-us"
        elif team == "lifecycle" and rng.random() < 0.4:
            currency, line_suffix = "GBP", "-uk"
        submitted = self.working_time(START.date() + dt.timedelta(days=index * 12 + rng.randint(0, 9)))
        quarter = (submitted.month - 1) // 3 + 1
        c = Campaign(
            cid=f"{team[:2] if team != 'product-marketing' else 'pm'}-{index + 1:02d}-{slug(title)}",
            team=team, title=title, owner=spec["owners"][index % 2], requester=spec["requesters"][index % 2],
            currency=currency, line=f"FY26-Q{quarter}-{team}{line_suffix}",
        )
        self.campaigns.append(c)
        low, high = spec["amount"]
        amount = Decimal(500 * rng.randint(low // 500, high // 500))
        kpis = spec["kpis"].format(n=50 * rng.randint(4, 40))
        tracking = True
        if special not in ("refund", "launch_offset", "tracking_not_live") and rng.random() < 0.12:
            tracking = False  # launched (if at all) without a tracking plan
        if special not in ("refund", "launch_offset", "tracking_not_live") and rng.random() < 0.06:
            kpis = ""  # no KPIs at all
        if special == "rework_tracking":
            tracking = False
        brief = Brief(1, submitted, channels, (submitted + dt.timedelta(days=rng.randint(28, 56))).date(), amount,
                      kpis, tracking, 28 + 7 * rng.randint(0, 4))
        try:
            self.journey(c, brief, special)
        except _Truncated:
            pass

    def submit(self, c: Campaign, b: Brief) -> None:
        c.row("submitted", b.at, version=b.version, title=c.title, team=c.team, owner=c.owner, requester=c.requester,
              objective=f"{c.title}: {'awareness' if c.team == 'brand' else 'pipeline and revenue'}",
              channels=";".join(b.channels), target_launch_date=b.target, flight_start=b.target,
              flight_end=b.target + dt.timedelta(days=b.flight_days),
              amount=b.amount, currency=c.currency, budget_line_id=c.line, kpis=b.kpis,
              tracking_plan="yes" if b.tracking else "no")

    def journey(self, c: Campaign, brief: Brief, special: str) -> None:
        rng = self.rng
        # Which gate (if any) sends each version back: {version: (gate, kind)}.
        rework: dict[int, tuple[str, str]] = {}
        if special == "reject_outright_brief":
            rework[1] = ("brief_review", "rejected")
        elif special == "reject_outright_budget":
            rework[1] = ("budget_approval", "rejected")
        elif special == "rework_twice":
            rework = {1: ("brief_review", "changes_requested"), 2: ("brand_legal_review", "changes_requested")}
        elif special == "rework_drop_channel":
            rework[1] = ("brand_legal_review", "changes_requested")
        elif special == "rework_tracking":
            rework[1] = ("brief_review", "changes_requested")
        elif not special.startswith("cancel") and rng.random() < 0.28:
            gates = brief.gates
            weights = [{"brief_review": 3, "budget_approval": 1.5, "brand_legal_review": 5,
                        "launch_readiness": 0.5}[g] for g in gates]
            rework[1] = (rng.choices(gates, weights)[0], "changes_requested")
            if rng.random() < 0.15:
                rework[2] = (gates[0], "changes_requested")

        self.submit(c, brief)
        while True:
            actionable = brief.at
            sent_back = False
            for gate in brief.gates:
                decided = actionable + self.gate_wait(gate)
                deciders = {g: d for g, _, d in GATES}[gate]
                decided_by = deciders[rng.randrange(2)]
                if special == "cancel_before_budget" and gate == "budget_approval":
                    # halfway through the budget wait, on a quarter-hour
                    halfway = dt.timedelta(minutes=15 * ((decided - actionable) // dt.timedelta(minutes=30)))
                    c.row("cancelled", actionable + halfway, cancelled_by=c.owner,
                          reason="Programme merged into the loyalty tier launch")
                    return
                if rework.get(brief.version, ("", ""))[0] == gate:
                    kind = rework[brief.version][1]
                    reason = "No tracking plan attached" if special == "rework_tracking" else rng.choice(REASONS[gate])
                    c.row("rejected", decided, version=brief.version, gate=gate, decided_by=decided_by,
                          sla_hours=SLA[gate], reason=reason, rejection_kind=kind,
                          gate_kind="budget" if gate == "budget_approval" else "review")
                    if kind == "rejected":
                        return
                    brief = self.revise(c, brief, gate, decided, special)
                    self.submit(c, brief)
                    sent_back = True
                    break
                c.row("approved", decided, version=brief.version, gate=gate, decided_by=decided_by,
                      sla_hours=SLA[gate], gate_kind="budget" if gate == "budget_approval" else "review")
                if gate == "budget_approval":
                    c.row("committed", decided + dt.timedelta(minutes=5), version=brief.version,
                          amount=brief.amount, currency=c.currency, budget_line_id=c.line)
                    if special == "cancel_after_commit":
                        self.cancel_after_commit(c, brief, decided)
                        return
                actionable = decided
            if not sent_back:
                break
        self.launch_and_spend(c, brief, actionable, special)

    def revise(self, c: Campaign, old: Brief, gate: str, rejected_at: dt.datetime, special: str) -> Brief:
        rng = self.rng
        channels, amount, target, tracking = list(old.channels), old.amount, old.target, old.tracking
        if special == "rework_drop_channel":
            channels = [ch for ch in channels if ch not in PUBLIC_FACING] or ["paid_search"]
        if gate == "budget_approval":
            amount = Decimal(500 * max(1, int(amount * Decimal("0.85")) // 500))
        elif gate in ("brand_legal_review", "launch_readiness") and rng.random() < 0.6:
            # rescoped after budget had committed: the new version's commitment replaces the old
            amount = Decimal(500 * max(1, int(amount * Decimal(rng.choice(("0.8", "0.9", "1.1")))) // 500))
        if gate == "brief_review" and not tracking and (special == "rework_tracking" or rng.random() < 0.5):
            tracking = True
        resubmitted = self.working_time((rejected_at + dt.timedelta(days=rng.randint(2, 6))).date())
        if rng.random() < 0.4:
            target = target + dt.timedelta(days=7 * rng.randint(1, 2))
        return Brief(old.version + 1, resubmitted, channels, target, amount, old.kpis, tracking, old.flight_days)

    def cancel_after_commit(self, c: Campaign, b: Brief, committed_at: dt.datetime) -> None:
        deposit_day = (committed_at + dt.timedelta(days=6)).date()
        deposit = money(b.amount * Decimal("0.2"))
        c.row("spend", dt.datetime.combine(deposit_day, dt.time(17), UTC), amount=deposit,
              currency=c.currency, source_system=FINANCE_SOURCE,
              source_reference=self.reference(FINANCE_SOURCE, deposit_day), incurred_on=deposit_day,
              budget_line_id=c.line, description="Venue deposit (non-refundable)")
        c.row("cancelled", self.working_time((committed_at + dt.timedelta(days=12)).date()), cancelled_by=c.owner,
              reason="Venue withdrew; event moved to next year")

    def launch_and_spend(self, c: Campaign, b: Brief, ready: dt.datetime, special: str) -> None:
        rng = self.rng
        target_morning = dt.datetime.combine(b.target, dt.time(9), UTC)
        if special == "launch_offset":
            # 22:30 UTC on the target date, as written by someone at UTC+2: 00:30 the next local day.
            launched = dt.datetime.combine(b.target, dt.time(22, 30), UTC)
        elif rng.random() < 0.3:
            launched = target_morning + dt.timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 6))
        else:
            launched = target_morning - dt.timedelta(days=rng.randint(0, 3)) + dt.timedelta(hours=rng.randint(0, 7))
        if launched <= ready:  # held up by the gates: launch the next working day
            launched = self.working_time((ready + dt.timedelta(days=1)).date())
        values: dict[str, object] = {"launched_by": c.owner}
        if special == "tracking_not_live":
            values["tracking_plan"] = "no"
        if launched > AS_OF:
            raise _Truncated
        if special == "launch_offset":
            c.rows.append({"campaign_id": c.cid, "event": "launched",
                           "at": launched.astimezone(dt.timezone(dt.timedelta(hours=2))).isoformat(),
                           "launched_by": c.owner})
        else:
            c.row("launched", launched, **values)

        # Spend: invoices per month of the flight (from the launch, for the brief's flight
        # length) and per source system, scaled to an outcome.
        flight_end = launched.date() + dt.timedelta(days=b.flight_days)
        r = rng.random()
        factor = (Decimal(str(round(rng.uniform(1.04, 1.32), 3))) if r < 0.33 else
                  Decimal(str(round(rng.uniform(0.96, 1.0), 3))) if r < 0.45 else
                  Decimal(str(round(rng.uniform(0.62, 0.94), 3))))
        total = b.amount * factor
        sources = sorted({SOURCE_OF_CHANNEL.get(ch, FINANCE_SOURCE) for ch in b.channels})
        months: list[dt.date] = []
        day = launched.date()
        while day <= flight_end:
            month_end = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
            months.append(min(month_end, flight_end))
            day = month_end + dt.timedelta(days=1)
        # invoices are booked on the last day of each month of the flight (or its end), at 17:00 UTC
        shares = [Decimal(rng.randint(6, 10)) for _ in months]
        invoices: list[tuple[str, str, Decimal, dt.date]] = []
        for month_end, share in zip(months, shares, strict=True):
            for source in sources:
                amount = money(total * share / sum(shares) / len(sources))
                recorded = dt.datetime.combine(month_end, dt.time(17), UTC)
                if recorded > AS_OF:
                    break
                ref = self.reference(source, month_end)
                c.row("spend", recorded, amount=amount, currency=c.currency, source_system=source,
                      source_reference=ref, incurred_on=month_end,
                      budget_line_id=c.line if source == FINANCE_SOURCE else "",
                      description=f"{source} invoice {month_end:%B %Y}")
                invoices.append((source, ref, amount, month_end))
        if special == "refund" and invoices and REFUNDS:
            source, ref, amount, incurred = invoices[0]
            refund_day = incurred + dt.timedelta(days=9)
            c.row("spend", dt.datetime.combine(refund_day, dt.time(17), UTC),
                  amount=-money(amount * Decimal("0.25")), currency=c.currency, source_system=source,
                  source_reference=f"{ref}-R", corrects_reference=ref, incurred_on=refund_day,
                  description=f"Refund (credit note) correcting {ref}: under-delivered placements")
        completed = dt.datetime.combine(flight_end + dt.timedelta(days=5), dt.time(10), UTC)
        if completed <= AS_OF:
            c.row("completed", completed, completed_by=c.owner)

    def in_flight(self) -> None:
        """Change in flight, after the rest is drawn (its own random stream, so the other facts
        stay as they were): a few launched campaigns are paused and resumed, and change requests
        move money or dates, decided at the gates the default policy's change rules name."""
        rng = random.Random(SEED + 18)
        stories = iter(CHANGE_STORIES)
        for c in self.campaigns:
            launched = next((r for r in c.rows if r["event"] == "launched"), None)
            if launched is None:
                continue
            start = _at(launched)
            ends = [_at(r) for r in c.rows if r["event"] in ("completed", "cancelled")]
            if start + dt.timedelta(days=25) > min([*ends, AS_OF]):
                continue  # too short a flight left for the story
            story = next(stories, None)
            if story is None:
                return
            versions = [int(r["version"]) for r in c.rows if r.get("version") and r["event"] == "submitted"]
            committed = [r for r in c.rows if r["event"] == "committed"][-1]
            at = self.working_time((start + dt.timedelta(days=3)).date())
            if story.startswith("pause"):
                for _ in range(2 if story == "pause_twice" else 1):
                    c.row("paused", at, paused_by=c.owner, reason=rng.choice(
                        ("Stock shortage at the warehouse", "Creative under legal review", "Landing page outage")))
                    at += dt.timedelta(hours=rng.randint(20, 70))
                    c.row("resumed", at, resumed_by=c.owner, reason="Resolved")
                    at += dt.timedelta(days=2)
            if story in ("pause_and_top_up", "trim"):
                old = Decimal(committed["amount"])
                new = money(old * (Decimal("1.2") if story == "pause_and_top_up" else Decimal("0.8")))
                version = max(versions) + 1
                at = self.working_time((at + dt.timedelta(days=2)).date())
                c.row("change_requested", at, version=version, changes="budget", amount=new, currency=c.currency,
                      requested_by=c.owner, reason="Strong early results: more budget" if new > old
                      else "Lower reach than planned: trim the budget")
                decided = at + (self.gate_wait("budget_approval") if new > old else dt.timedelta(minutes=1))
                if new > old:  # more money passes the budget gate; less passes no gate
                    c.row("approved", decided, version=version, gate="budget_approval", gate_kind="budget",
                          decided_by="fiona", sla_hours=72)
                c.row("change_decided", decided, version=version, outcome="approved",
                      decided_by="fiona" if new > old else "governance")
                c.row("committed", decided, version=version, amount=new, currency=c.currency, budget_line_id=c.line)
            elif story == "late_extension":
                version = max(versions) + 1
                flight_end = dt.date.fromisoformat([r for r in c.rows if r["event"] == "submitted"][-1]["flight_end"])
                at = self.working_time((at + dt.timedelta(days=5)).date())
                c.row("change_requested", at, version=version, changes="dates",
                      flight_end=flight_end + dt.timedelta(days=21), requested_by=c.owner,
                      reason="Extend the flight by three weeks")
                decided = at + self.gate_wait("brief_review")
                c.row("rejected", decided, version=version, gate="brief_review", decided_by="lena", sla_hours=48,
                      reason="The extension overlaps the summer sale")
                c.row("change_decided", decided, version=version, outcome="rejected", decided_by="lena",
                      reason="The extension overlaps the summer sale")


def render(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row)
    return out.getvalue()


def generate(seed: int = SEED) -> str:
    """The demo history as CSV text (deterministic for a given seed)."""
    return render(Generator(seed).generate())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default=str(OUTPUT), help='where to write ("-" for stdout)')
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from what would be written")
    args = parser.parse_args(argv)
    text = generate()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    if args.check:
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            print(f"{path} is stale: run {Path(__file__).name} and commit the result", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    path.write_text(text, encoding="utf-8", newline="")
    print(f"wrote {path} ({text.count(chr(10)) - 1} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

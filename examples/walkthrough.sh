#!/usr/bin/env bash
# The campaign journey of SPEC section 3 with curl, against a running `make run`.
#
#   make run                      # in one terminal
#   bash examples/walkthrough.sh  # in another (needs curl and jq)
#
# Each step prints what it did; read the script alongside the README's walkthrough.
set -euo pipefail
cd "$(dirname "$0")/.."

I=${INTAKE_URL:-http://127.0.0.1:8001}
G=${GOVERNANCE_URL:-http://127.0.0.1:8002}
B=${BUDGET_URL:-http://127.0.0.1:8003}
M=${METRICS_URL:-http://127.0.0.1:8004}
# the broker and topic prefix the services use (make run: the defaults)
KAFKA=${MAROPS_KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${MAROPS_KAFKA_PORT:-19092}}
PREFIX=${MAROPS_TOPIC_PREFIX:-}
token() { .venv/bin/marops-token "$@"; }
ALICE=$(token --sub alice --role requester --team growth)   # requester and owner
ALEX=$(token --sub alex --role approver)                    # marketing lead
FINN=$(token --sub finn --role finance)                     # finance
VIEW=$(token --sub vic --role viewer)
json=(-H "Content-Type: application/json")
as() { local t=$1; shift; curl -sS -H "Authorization: Bearer $t" "${json[@]}" "$@"; }
step() { printf '\n== %s\n' "$*"; }
# Events flow between services asynchronously: poll (bounded) until a condition holds.
await() {
  local what=$1 cmd=$2
  for _ in $(seq 1 100); do
    if eval "$cmd" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "timed out waiting for: $what" >&2; exit 1
}
RUN=$(date +%s)
LINE="growth-email-$RUN"
LAUNCH=$(date -u -d '+30 days' +%F); END=$(date -u -d '+60 days' +%F)

step "finance creates a budget line (budget)"
as "$FINN" -X POST "$B/budget-lines" -d '{"id": "'"$LINE"'", "name": "Growth email", "fiscal_year": 2026,
  "quarter": 4, "team": "growth", "channel": "email", "amount": {"amount": "50000.00", "currency": "EUR"}}' \
  | jq -c '{id, amount, available}'

step "alice drafts a brief and checks it (intake): the check lists what is missing"
CID=$(as "$ALICE" -X POST "$I/campaigns" -d '{"title": "Autumn reactivation", "channels": ["email"]}' | jq -r .id)
as "$ALICE" "$I/campaigns/$CID/completeness" | jq -r '.errors[] | "  \(.path): \(.reason)"'

step "alice completes the brief and submits version 1"
as "$ALICE" -X PATCH "$I/campaigns/$CID/brief" -d '{
  "objective": "Win back customers inactive for six months",
  "target_audience": "Customers with no order in 6 months",
  "target_launch_date": "'"$LAUNCH"'", "flight_start": "'"$LAUNCH"'", "flight_end": "'"$END"'",
  "kpis": [{"metric": "reactivated_customers", "target": "500", "unit": "customers", "timeframe": "4 weeks after launch"}],
  "tracking_plan": {"campaign_code": "autumn-reactivation", "conversion_events": ["purchase"],
                    "reporting_destination": "Growth dashboard"},
  "budget_request": {"amount": {"amount": "8000.00", "currency": "EUR"}, "budget_line_id": "'"$LINE"'"},
  "raci": {"responsible": ["alice"], "consulted": ["brand"], "informed": ["sales"]}
}' >/dev/null
as "$ALICE" -X POST -H "Idempotency-Key: submit-$CID-1" "$I/campaigns/$CID/submit" | jq -c '{status, current_version}'

step "budget reserves the requested amount; governance opens the gates"
await "reservation" "as '$VIEW' '$G/campaigns/$CID' | jq -e '.budget.reservation.status == \"reserved\"'"
as "$VIEW" "$G/campaigns/$CID" | jq -c '{current_gate, reservation: .budget.reservation.status, gates: [.gates[] | "\(.gate_id):\(.status)"]}'

step "four-eyes: alice cannot approve her own campaign (403)"
as "$ALICE" -X POST "$G/campaigns/$CID/gates/brief_review/decisions" -d '{"decision": "approve", "brief_version": 1}' \
  | jq -c '{status, title, detail}'

step "alex requests changes; intake shows changes_requested"
as "$ALEX" -X POST "$G/campaigns/$CID/gates/brief_review/decisions" \
  -d '{"decision": "reject", "brief_version": 1, "kind": "changes_requested", "reason": "Add a holdout group"}' \
  | jq -c '{gate_id, decision, published, gate: .gate.status}'
await "changes_requested" "as '$ALICE' '$I/campaigns/$CID' | jq -e '.status == \"changes_requested\"'"
as "$ALICE" "$I/campaigns/$CID" | jq -c '{status, status_reason}'

step "alice revises and submits version 2; the gates re-open"
as "$ALICE" -X PATCH "$I/campaigns/$CID/brief" -d '{"notes": "Control group: 5% holdout"}' >/dev/null
as "$ALICE" -X POST "$I/campaigns/$CID/submit" | jq -c '{status, current_version}'
await "version 2 in governance" "as '$VIEW' '$G/campaigns/$CID' | jq -e '.brief_version == 2 and .budget.reservation.status == \"reserved\"'"

step "launch is refused while gates are open (409 with the unmet list)"
as "$ALICE" -X POST "$G/campaigns/$CID/launch" | jq -c '{status, unmet: [.unmet[]? | .code? // .]}'

step "approvers decide every gate in order (finance decides the budget gate)"
while gate=$(as "$VIEW" "$G/campaigns/$CID" | jq -er '.current_gate // empty'); do
  kind=$(as "$VIEW" "$G/campaigns/$CID" | jq -r --arg g "$gate" '.gates[] | select(.gate_id == $g) | .kind')
  who=$ALEX; [ "$kind" = budget ] && who=$FINN
  as "$who" -X POST "$G/campaigns/$CID/gates/$gate/decisions" -d '{"decision": "approve", "brief_version": 2}' \
    | jq -c '{gate_id, decision, published, gate: .gate.status}'
  await "gate $gate approved" "as '$VIEW' '$G/campaigns/$CID' | jq -e --arg g '$gate' '.current_gate != \$g'"
done

step "budget commits on the budget gate's approval"
await "commitment" "as '$VIEW' '$G/campaigns/$CID/readiness' | jq -e '.ready == true'"
as "$VIEW" "$B/campaigns/$CID/budget" | jq -c '{committed, spent, remaining}'

step "alice launches (governance publishes CampaignLaunched with the readiness snapshot)"
as "$ALICE" -X POST "$G/campaigns/$CID/launch" | jq -c '{campaign_id, brief_version, readiness}'
await "launched in intake" "as '$ALICE' '$I/campaigns/$CID' | jq -e '.status == \"launched\"'"

step "spend arrives: once through the API, once from another system straight onto Kafka"
SVC=$(token --sub ads-bridge --role service --source-system google-ads)
as "$SVC" -X POST "$B/spend" -d '{"campaign_id": "'"$CID"'", "source_system": "google-ads",
  "source_reference": "gads-'"$RUN"'-1", "amount": {"amount": "5000.00", "currency": "EUR"},
  "incurred_on": "'"$(date -u +%F)"'"}' | jq -c '{status: (.status // "recorded")}'
.venv/bin/python - "$CID" "$RUN" "$KAFKA" "$PREFIX" <<'PY'
# Another enterprise system: a plain Kafka producer and the published contract, nothing else.
import asyncio, datetime, json, sys, uuid
from aiokafka import AIOKafkaProducer

campaign, run, bootstrap, prefix = sys.argv[1:5]
event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "erp/sap-fi", "type": "SpendRecorded",
         "time": datetime.datetime.now(datetime.UTC).isoformat(), "subject": campaign,
         "datacontenttype": "application/json", "correlationid": campaign,
         "data": {"campaign_id": campaign, "source_system": "sap-fi", "source_reference": f"INV-{run}",
                  "amount": {"amount": "3750.00", "currency": "EUR"},
                  "incurred_on": datetime.date.today().isoformat()}}

async def main() -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for _ in range(2):  # sent twice: counted once
            await producer.send_and_wait(prefix + "marops.spend-recorded.v1", json.dumps(event).encode(),
                                         key=campaign.encode(),
                                         headers=[("content-type", b"application/cloudevents+json"),
                                                  ("ce_type", b"SpendRecorded")])
    finally:
        await producer.stop()

asyncio.run(main())
print("  published SpendRecorded INV-%s twice on marops.spend-recorded.v1" % run)
PY
await "spend" "as '$VIEW' '$B/campaigns/$CID/budget' | jq -e '.spent.amount == \"8750.00\"'"
as "$VIEW" "$B/campaigns/$CID/budget" | jq -c '{committed, spent, variance}'

step "results as of today: alice reports them through intake (an analytics system may too, or straight onto Kafka)"
TODAY=$(date -u +%F)
as "$ALICE" -X POST "$I/campaigns/$CID/results" -d '{"source_reference": "week-'"$RUN"'", "as_of": "'"$TODAY"'",
  "results": [{"metric": "reactivated_customers", "actual": "410"}]}' | jq -c '{source_system, source_reference, as_of}'

step "metrics: attainment per KPI (actual / target) and the outcome numbers over every campaign"
# (cost per result and return on spend need an outcome KPI from the metric catalogue: see the README)
await "outcomes" "as '$VIEW' '$M/outcomes/campaigns?limit=1000' | jq -e --arg c '$CID' '.campaigns[] | select(.campaign_id == \$c) | .has_results'"
as "$VIEW" "$M/outcomes/campaigns?limit=1000" | jq -c --arg c "$CID" '.campaigns[] | select(.campaign_id == $c)
  | {has_results, met_targets, kpis: [.kpis[] | {metric, target, actual, attainment}]}'
as "$VIEW" "$M/aggregates/outcomes" | jq -c '.overall | {campaigns, with_results, met_targets, attainment: .attainment.mean}'

step "alice completes the campaign with results per KPI"
as "$ALICE" -X POST "$I/campaigns/$CID/complete" -d '{"results": [{"metric": "reactivated_customers", "actual": "540"}]}' \
  | jq -c '{status}'

step "metrics: the campaign's timeline and the headline numbers"
await "metrics" "as '$VIEW' '$M/campaigns/$CID/timeline' | jq -e '[.events[]?.type] | index(\"CampaignCompleted\")'"
as "$VIEW" "$M/campaigns/$CID/timeline" | jq -r '.events[]? | "  \(.time)  \(.type)"'
as "$VIEW" "$M/summary" | jq -c 'del(.filters?)' | cut -c1-600

step "metrics: this week's review pack (the worker publishes each ended week's as ReviewPackPublished)"
await "the launch in the review pack" "as '$VIEW' '$M/reviews?period=week&start=$TODAY' | jq -e '.launches.count > 0'"
as "$VIEW" "$M/reviews?period=week&start=$TODAY" | jq -c '{period, start, "end": .end, launches: .launches.count,
  spend, completed_without_retrospective: [.completed_without_retrospective[].campaign_id],
  headline: [.headline[] | select(.metric == "launches" or .metric == "spend_EUR") | {metric, current, previous}]}'
echo
echo "done: campaign $CID"

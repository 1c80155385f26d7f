"""Consumed events -> use cases. Each handler runs inside the consumer's batch transaction.

Intake consumes governance's decisions and launches only to show requesters where their
campaign stands; each is kept as a fact and the status re-derived (see domain/status.py).
Imported history is ignored: it is for metrics; intake holds no such campaigns. The
metric catalogue is kept (highest version) so submitted KPIs carry their definition.
"""

from marops_events import contracts as c
from marops_events.consumer import BatchHandler
from marops_events.subscriptions import Subscriptions

from .service import record_catalogue, record_change_decision, record_governance_facts

SUBSCRIPTIONS = Subscriptions("intake")
# A fetched batch of governance's facts is recorded set-wise (a few statements per batch).
SUBSCRIPTIONS.add((c.GateApproved, c.GateRejected, c.CampaignLaunched), BatchHandler(record_governance_facts),
                  live_only=True)
# An approved change request becomes the campaign's current version (domain/changes.py).
SUBSCRIPTIONS.add((c.ChangeDecided,), record_change_decision, live_only=True)
SUBSCRIPTIONS.add((c.MetricCatalogueChanged,), record_catalogue)

"""Prometheus instruments of the delivery plumbing (exposed by each service's /metrics)."""

from prometheus_client import Counter, Gauge

OUTBOX_PENDING = Gauge("marops_outbox_pending", "Unpublished outbox rows seen by the last relay poll", ["relay"])
OUTBOX_PUBLISHED = Counter("marops_outbox_published", "Outbox rows published to Kafka", ["relay"])
EVENTS_APPLIED = Counter("marops_events_applied", "Events applied by a consumer", ["group", "event_type"])
EVENTS_DUPLICATE = Counter("marops_events_duplicate", "Redelivered events skipped via the inbox", ["group", "event_type"])
EVENTS_DEAD_LETTERED = Counter("marops_events_dead_lettered", "Records sent to a dead-letter topic, by kind of reason",
                               ["group", "topic", "reason"])
CONSUMER_LAG = Gauge("marops_consumer_lag", "Records behind the partition high watermark", ["group", "topic", "partition"])
LAST_EVENT_TIME = Gauge("marops_consumer_last_event_time_seconds",
                        "Business time (unix seconds) of the last event applied per topic", ["group", "topic"])
CONSUMER_RESTARTS = Counter("marops_consumer_restarts", "Times a consumer loop crashed and was restarted", ["group"])
CONSUMER_SECONDS_SINCE_BATCH = Gauge("marops_consumer_seconds_since_last_batch",
                                     "Seconds since the consumer last completed a fetch-and-process cycle", ["group"])

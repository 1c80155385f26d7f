"""marops test kit: pytest fixtures for real PostgreSQL and Kafka, and Kafka test helpers.

The fixtures (`infra`, `kafka_bootstrap`, `pg_dsn`, `make_pg_dsn`, `topic_prefix`) are
registered automatically through the `pytest11` entry point once the package is
installed; see `marops_testkit.fixtures`. Helpers: `create_topics`, `read_topic`, `wait_for`,
`run_sync`, `create_database`, `drop_databases`, `delete_topics_with_prefix`; events in and out
of a service under test: `marops_testkit.events` (`publish`, `published`).
"""

from marops_testkit.fixtures import (
    Infra,
    create_database,
    delete_topics_with_prefix,
    drop_databases,
    run_sync,
)
from marops_testkit.kafka import create_topics, read_topic, wait_for

__all__ = ["Infra", "create_database", "create_topics", "delete_topics_with_prefix", "drop_databases",
           "read_topic", "run_sync", "wait_for"]

"""``marops-topics``: create every event topic and its dead-letter topic, then exit.

A release step (the Helm chart's topic Job) for clusters where the services should not
create topics themselves, or must create them with the cluster's replication: partitions,
replication factor and min.insync.replicas come from the options or from
``MAROPS_TOPIC_PARTITIONS`` / ``MAROPS_TOPIC_REPLICATION_FACTOR`` /
``MAROPS_TOPIC_MIN_INSYNC_REPLICAS``; the connection (SASL, TLS) from ``MAROPS_KAFKA_*``.
Topics that exist are left as they are.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from marops_events import kafka

from .settings import ServiceSettings


def main(argv: list[str] | None = None) -> int:
    settings = ServiceSettings()
    parser = argparse.ArgumentParser(prog="marops-topics", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--partitions", type=int, default=settings.topic_partitions)
    parser.add_argument("--replication-factor", type=int, default=settings.topic_replication_factor)
    parser.add_argument("--min-insync-replicas", type=int, default=settings.topic_min_insync_replicas)
    parser.add_argument("--topic-prefix", default=settings.topic_prefix)
    args = parser.parse_args(argv)
    if args.min_insync_replicas is not None and args.min_insync_replicas > args.replication_factor:
        parser.error("--min-insync-replicas cannot exceed --replication-factor (no write could succeed)")
    topics = kafka.all_topics(args.topic_prefix)
    try:
        created = asyncio.run(kafka.ensure_topics(
            settings.kafka_connection(), topics, partitions=args.partitions,
            replication_factor=args.replication_factor, min_insync_replicas=args.min_insync_replicas))
    except Exception as exc:  # the Job's log is what an operator reads
        print(f"marops-topics: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    print(f"marops-topics: {len(created)} created, {len(topics) - len(created)} existed "
          f"(partitions={args.partitions}, replication factor={args.replication_factor}, "
          f"min.insync.replicas={args.min_insync_replicas or 'broker default'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

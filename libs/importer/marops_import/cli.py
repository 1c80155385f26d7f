"""``marops import FILE``: publish a history CSV as historical events, all or nothing.

The whole file is validated first; any problem is printed with its row and column and
nothing is published. The events are then sent in one Kafka transaction, so consumers
(which read committed records only) see all of them or none.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import os
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from marops_events import kafka, registry
from marops_events.envelope import Envelope
from marops_events.registry import CONTENT_TYPE

from . import dlq_cli
from .history import to_events
from .rows import HistoryError, parse


async def publish(events: list[Envelope[Any]], *, bootstrap: kafka.Connectable, topic_prefix: str,
                  transactional_id: str, partitions: int = 6) -> None:
    await kafka.ensure_topics(bootstrap, kafka.all_topics(topic_prefix), partitions=partitions)
    producer = kafka.producer(bootstrap, client_id="marops-import", transactional_id=transactional_id)
    await kafka.start_client(producer, bootstrap)
    try:
        async with producer.transaction():
            for event in events:
                await producer.send(
                    registry.spec_for(event.type).topic(topic_prefix),
                    value=event.to_json(), key=registry.partition_key(event).encode(),
                    headers=[("content-type", CONTENT_TYPE.encode()), ("ce_type", event.type.encode()),
                             ("ce_id", str(event.id).encode())],
                )
    finally:
        await producer.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="marops", description="marops command line")
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser("import", help="publish a CSV of past campaigns as historical events",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("file", type=Path)
    imp.add_argument("--bootstrap", default=os.environ.get("MAROPS_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:19092"))
    imp.add_argument("--topic-prefix", default=os.environ.get("MAROPS_TOPIC_PREFIX", ""))
    imp.add_argument("--dry-run", action="store_true", help="validate only, publish nothing")
    dlq_cli.add_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "dlq":
        return dlq_cli.run(args)

    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        print(f"marops import: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    try:
        events = to_events(parse(text))
    except HistoryError as exc:
        print(f"marops import: {args.file}: {exc}; nothing was imported", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 2
    counts = Counter(e.type for e in events)
    summary = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
    if args.dry_run:
        print(f"{args.file}: valid, would publish {len(events)} events ({summary})")
        return 0
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    # SASL and TLS: the MAROPS_KAFKA_* variables the services read; --bootstrap overrides the servers
    target = dataclasses.replace(kafka.KafkaConnection.from_env(), bootstrap_servers=args.bootstrap)
    try:
        asyncio.run(publish(events, bootstrap=target, topic_prefix=args.topic_prefix,
                            transactional_id=f"marops-import-{digest}"))
    except kafka.KafkaSecurityError as exc:
        print(f"marops import: {exc}; nothing was imported", file=sys.stderr)
        return 2
    print(f"{args.file}: published {len(events)} historical events ({summary})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

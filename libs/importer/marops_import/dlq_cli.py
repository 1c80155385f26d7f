"""``marops dlq list|show|replay``: the dead letters of one service, and their re-drive.

    marops dlq list   --service budget              # id, origin, when, kind, reason
    marops dlq show   --service budget ID            # headers and value of one letter
    marops dlq replay --service budget ID [ID ...]   # after fixing the cause

The Kafka address, topic prefix and consumer group come from the service's own settings
(``<SERVICE>_*`` then ``MAROPS_*`` environment variables), as the running service reads
them. Procedure: docs/operations.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from typing import Any

from marops_events import dlq
from marops_events.consumer import group_id_for


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("dlq", help="list, show and replay a service's dead letters",
                                 description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True)
    for name, help_text in (("list", "list the service's dead letters"), ("show", "show one dead letter"),
                            ("replay", "publish dead letters back to their topic, for this service only")):
        action = actions.add_parser(name, help=help_text)
        action.add_argument("--service", required=True, help="intake, governance, budget or metrics")
        if name == "show":
            action.add_argument("id", help="<dlq topic>:<partition>:<offset>, as `list` prints it")
        if name == "replay":
            action.add_argument("ids", nargs="+", metavar="id", help="letters to replay, as `list` prints them")


def service_settings(service: str) -> Any:
    try:
        module = importlib.import_module(f"marops_{service}.settings")
    except ModuleNotFoundError:
        raise dlq.DeadLetterError(f"unknown service {service!r} (is marops-{service} installed?)") from None
    return module.Settings()


def run(args: argparse.Namespace) -> int:
    try:
        settings = service_settings(args.service)
        bootstrap, prefix = settings.kafka_connection(), settings.topic_prefix
        group = group_id_for(settings.service_name, prefix)
        if args.action == "list":
            letters = asyncio.run(dlq.read_letters(bootstrap, dlq.dlq_topics(prefix), group))
            for letter in letters:
                print(f"{letter.id}\t{letter.origin}\t{letter.header('dlq.failed.at')}\t"
                      f"{letter.header('dlq.reason.kind') or '-'}\t{letter.reason}")
            print(f"{len(letters)} dead letter(s) of {group}", file=sys.stderr)
        elif args.action == "show":
            letter = asyncio.run(dlq.fetch_letter(bootstrap, args.id))
            print(f"id: {letter.id}\nkey: {_text(letter.record.key)}")
            for key, value in letter.record.headers or ():
                print(f"header {key}: {_text(value)}")
            print(_text(letter.record.value))
        else:
            async def replay() -> list[str]:
                letters = [await dlq.fetch_letter(bootstrap, letter_id) for letter_id in args.ids]
                return await dlq.replay(bootstrap, letters, group)

            for letter_id, placed in zip(args.ids, asyncio.run(replay()), strict=True):
                print(f"{letter_id} replayed as {placed} for {group}")
    except dlq.DeadLetterError as exc:
        print(f"marops dlq: {exc}", file=sys.stderr)
        return 2
    return 0


def _text(value: bytes | None) -> str:
    return "(null)" if value is None else value.decode("utf-8", errors="backslashreplace")

"""Dead letters of one consumer group: list, show and re-drive them.

Every consumer group dead-letters to ``<topic>.dlq`` (shared by the groups consuming
``<topic>``); the ``dlq.consumer.group`` header says whose letter it is. A letter is named
by where it is on the DLQ: ``<dlq topic>:<partition>:<offset>``.

A replay publishes the original value (and the original headers) back to the original
topic with ``dlq.replay.group`` naming the group it is for: other groups skip it (they
applied or dead-lettered the original themselves), and the named group applies it once
(its inbox row for a dead-lettered event does not count as processed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from . import kafka, registry
from .consumer import REPLAY_GROUP_HEADER
from .registry import DLQ_SUFFIX


class DeadLetterError(Exception):
    """A letter that does not exist or cannot be replayed; the message says why."""


@dataclass(frozen=True)
class Letter:
    record: ConsumerRecord

    @property
    def id(self) -> str:
        return f"{self.record.topic}:{self.record.partition}:{self.record.offset}"

    def header(self, name: str) -> str | None:
        for key, value in self.record.headers or ():
            if key == name and value is not None:
                text: str = value.decode("utf-8", errors="replace")
                return text
        return None

    @property
    def group(self) -> str | None:
        return self.header("dlq.consumer.group")

    @property
    def reason(self) -> str:
        return self.header("dlq.reason") or "(no reason recorded)"

    @property
    def origin(self) -> str:
        return (f"{self.header('dlq.original.topic')}[{self.header('dlq.original.partition')}]"
                f"@{self.header('dlq.original.offset')}")

    @property
    def truncated(self) -> bool:
        return self.header("dlq.truncated") == "true"


def parse_id(letter_id: str) -> tuple[str, int, int]:
    try:
        topic, partition, offset = letter_id.rsplit(":", 2)
        return topic, int(partition), int(offset)
    except ValueError:
        raise DeadLetterError(f"{letter_id!r} is not a letter id (<dlq topic>:<partition>:<offset>)") from None


def dlq_topics(prefix: str) -> list[str]:
    return [t + DLQ_SUFFIX for t in registry.topics(prefix)]


async def read_letters(bootstrap: kafka.Connectable, topics: Iterable[str], group: str | None) -> list[Letter]:
    """Every letter on ``topics`` up to their current end, of ``group`` (all when None)."""
    layout = await _partitions(bootstrap, list(topics))
    partitions = [TopicPartition(t, p) for t, ps in layout.items() for p in ps]
    if not partitions:
        return []
    consumer = kafka.consumer(bootstrap, None, client_id="marops-dlq")
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        pending = [tp for tp in partitions if await consumer.position(tp) < end[tp]]
        letters: list[Letter] = []
        while pending:
            fetched = await consumer.getmany(*pending, timeout_ms=1000)
            for records in fetched.values():
                letters.extend(Letter(r) for r in records if r.offset < end[TopicPartition(r.topic, r.partition)])
            pending = [tp for tp in pending if await consumer.position(tp) < end[tp]]
    finally:
        await consumer.stop()
    mine = [letter for letter in letters if group is None or letter.group == group]
    return sorted(mine, key=lambda letter: (letter.record.topic, letter.record.partition, letter.record.offset))


async def fetch_letter(bootstrap: kafka.Connectable, letter_id: str) -> Letter:
    topic, partition, offset = parse_id(letter_id)
    if partition not in (await _partitions(bootstrap, [topic])).get(topic, []):
        raise DeadLetterError(f"no dead letter {letter_id}: there is no partition {partition} of {topic}")
    tp = TopicPartition(topic, partition)
    consumer = kafka.consumer(bootstrap, None, client_id="marops-dlq")
    await consumer.start()
    try:
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        if not 0 <= offset < end:
            raise DeadLetterError(f"no dead letter {letter_id}: offsets of {topic}[{partition}] end at {end}")
        consumer.seek(tp, offset)
        while True:
            records = (await consumer.getmany(tp, timeout_ms=2000)).get(tp, [])
            for record in records:
                if record.offset == offset:
                    return Letter(record)
                if record.offset > offset:
                    raise DeadLetterError(f"no dead letter {letter_id}: that offset holds no record")
    finally:
        await consumer.stop()


async def _partitions(bootstrap: kafka.Connectable, topics: list[str]) -> dict[str, list[int]]:
    """The partitions of those of ``topics`` that exist."""
    admin = kafka.admin(bootstrap, client_id="marops-dlq")
    await kafka.start_client(admin, bootstrap)
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in topics if t in existing]
        described = await admin.describe_topics(wanted) if wanted else []
    finally:
        await admin.close()
    return {d["topic"]: sorted(p["partition"] for p in d.get("partitions", [])) for d in described
            if d.get("error_code", 0) == 0}


async def replay(bootstrap: kafka.Connectable, letters: list[Letter], group: str) -> list[str]:
    """Publish each letter's original record back to its original topic, for ``group``.
    Returns the coordinates of the new records."""
    for letter in letters:
        if letter.truncated:
            raise DeadLetterError(f"{letter.id} holds a truncated copy; the original is at {letter.origin}")
        if letter.group != group:
            raise DeadLetterError(f"{letter.id} was dead-lettered by {letter.group!r}, not {group!r}")
        if not letter.header("dlq.original.topic"):
            raise DeadLetterError(f"{letter.id} does not say where it came from (no dlq.original.topic)")
    producer = kafka.producer(bootstrap, client_id="marops-dlq")
    await producer.start()
    placed = []
    try:
        for letter in letters:
            headers = [(k, v if v is not None else b"") for k, v in letter.record.headers or ()
                       if not k.startswith("dlq.")]
            headers += [(REPLAY_GROUP_HEADER, group.encode()), ("dlq.replayed.from", letter.id.encode())]
            topic = letter.header("dlq.original.topic") or ""
            meta = await producer.send_and_wait(topic, value=letter.record.value, key=letter.record.key,
                                                headers=headers)
            placed.append(f"{topic}:{meta.partition}:{meta.offset}")
    finally:
        await producer.stop()
    return placed


async def count_letters(bootstrap: kafka.Connectable, topics: Iterable[str]) -> dict[str, int]:
    """How many letters each existing DLQ topic of ``topics`` holds (still retained: the
    partitions' end offsets minus their beginning offsets), without reading any of them."""
    layout = await _partitions(bootstrap, list(topics))
    partitions = [TopicPartition(t, p) for t, ps in layout.items() for p in ps]
    counts = dict.fromkeys(layout, 0)
    if not partitions:
        return counts
    consumer = kafka.consumer(bootstrap, None, client_id="marops-dlq")
    await consumer.start()
    try:
        begin = await consumer.beginning_offsets(partitions)
        end = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    for tp in partitions:
        counts[tp.topic] += end[tp] - begin[tp]
    return counts

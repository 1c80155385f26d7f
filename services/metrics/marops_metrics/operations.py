"""``GET /operations/dead-letters``: how many records wait on each dead-letter topic.

For the console's Operations page beside consumer lag and freshness (``/status``): counts
only (end minus beginning offsets per partition), so it reads no letter; listing, showing
and re-driving them is ``marops dlq`` (docs/operations.md).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Depends
from pydantic import Field

from marops_events import dlq
from marops_events.registry import DLQ_SUFFIX
from marops_service.app import Runtime, get_runtime
from marops_service.problems import Problem
from marops_service.responses import problems

from .api import Reader
from .schemas import _Body

KAFKA_TIMEOUT_SECONDS = 10.0

router = APIRouter()


class DeadLetterTopic(_Body):
    topic: str = Field(description="the dead-letter topic, <topic>.dlq")
    source_topic: str
    letters: int = Field(description="records retained on it")


class DeadLetters(_Body):
    total: int
    topics: list[DeadLetterTopic]


@router.get("/operations/dead-letters", tags=["operations"], response_model=DeadLetters,
            summary="Dead letters waiting per topic (counts; `marops dlq` lists and re-drives them)",
            responses=problems(503))
async def dead_letters(runtime: Annotated[Runtime, Depends(get_runtime)], _: Reader) -> DeadLetters:
    settings = runtime.settings
    try:
        counts = await asyncio.wait_for(dlq.count_letters(settings.kafka_connection(),
                                                          dlq.dlq_topics(settings.topic_prefix)),
                                        KAFKA_TIMEOUT_SECONDS)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise Problem(f"Kafka did not answer: {exc!r}", status=503, title="Service unavailable",
                      headers={"Retry-After": "5"}) from exc
    topics = [DeadLetterTopic(topic=t, source_topic=t.removesuffix(DLQ_SUFFIX), letters=n)
              for t, n in sorted(counts.items())]
    return DeadLetters(total=sum(t.letters for t in topics), topics=topics)

"""A fresh start does not log aiokafka's self-healing leader errors as failures."""

from __future__ import annotations

import json
import logging

import pytest

from marops_service import logs


def test_leader_errors_aiokafka_retries_by_itself_are_info_and_other_errors_stay_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.configure("demo", "INFO", json=True)
        capsys.readouterr()
        fetcher = logging.getLogger("aiokafka.consumer.fetcher")
        fetcher.error("Failed fetch offsets from 1: [Error 6] NotLeaderForPartitionError: TopicPartition(t, 0)")
        logging.getLogger("aiokafka.producer.sender").warning(
            "Got error produce response on topic-partition TopicPartition(t, 0), retrying. "
            "Error: <class 'aiokafka.errors.NotLeaderForPartitionError'>")
        fetcher.error("Unexpected error in fetcher routine")
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert [line["level"] for line in lines] == ["info", "info", "error"]

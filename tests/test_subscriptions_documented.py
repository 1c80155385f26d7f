"""The AsyncAPI document lists exactly the consumers the services declare, and each
service's consumer runs exactly its declared handlers."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from marops_events.registry import EVENTS
from marops_testkit.apps import service_settings

ROOT = Path(__file__).resolve().parent.parent
ASYNCAPI = ROOT / "libs" / "events" / "marops_events" / "contracts" / "asyncapi.yaml"
SERVICES = ("intake", "governance", "budget", "metrics")


def declared(service: str) -> frozenset[str]:
    return frozenset(importlib.import_module(f"marops_{service}.handlers").SUBSCRIPTIONS.event_types)


def test_the_committed_asyncapi_document_names_the_declared_consumers_of_every_event() -> None:
    operations = yaml.safe_load(ASYNCAPI.read_text(encoding="utf-8"))["operations"]
    for event_type in EVENTS:
        documented = operations[f"receive{event_type}"]["x-consumers"]
        assert documented == [s for s in SERVICES if event_type in declared(s)], event_type
        assert operations[f"deadLetter{event_type}"]["x-producers"] == documented, event_type


def test_budget_consumes_outright_rejections() -> None:
    # the hand-kept list omitted it: budget releases the reservation of a rejected campaign
    assert "GateRejected" in declared("budget")


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_runs_the_handlers_it_declares(service: str) -> None:
    # built, not started: nothing connects to the addresses below
    settings = service_settings(importlib.import_module(f"marops_{service}.settings").Settings,
                                pg_dsn="postgresql://unused@127.0.0.1:1/unused", kafka_bootstrap="127.0.0.1:1",
                                topic_prefix="unused.")
    app = importlib.import_module(f"marops_{service}.main").create_app(settings)
    assert set(app.state.spec.handlers) == declared(service)

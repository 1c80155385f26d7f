"""``marops-worker <service>``: the outbox relay, the consumers and the housekeeping of one
service, in a process of their own (no HTTP).

Run it beside API processes started with ``<SERVICE>_RUN_WORKERS=false`` (any number of
them, e.g. ``uvicorn --workers N``): they write state and outbox rows, this process
publishes the rows and applies the consumed events. One worker per service is the normal
deployment; more are safe (the relay holds an advisory lock, consumers share the group).
The service is built exactly as its API is (``marops_<service>.main:create_app``), so both
read the same settings. SIGTERM or SIGINT stop it after the current batch.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import signal

import uvloop

from .app import ServiceSpec, freeze_heap, start_runtime, stop_runtime

log = logging.getLogger(__name__)


def load_spec(service: str) -> ServiceSpec:
    module = importlib.import_module(f"marops_{service}.main")
    app = module.create_app()
    spec: ServiceSpec = app.state.spec
    # This process is the one that runs the workers, whatever the API processes are told.
    return ServiceSpec(spec.settings.model_copy(update={"run_workers": True}), spec.migrations, spec.handlers,
                       spec.on_started, spec.workers)


async def run(spec: ServiceSpec, stop: asyncio.Event) -> None:
    runtime = await start_runtime(spec.settings, spec.migrations, spec.handlers, spec.on_started, spec.workers)
    freeze_heap()
    log.info("%s worker started", spec.settings.service_name)
    try:
        await stop.wait()
    finally:
        await stop_runtime(runtime)
        log.info("%s worker stopped", spec.settings.service_name)


async def _main(service: str) -> None:
    spec = load_spec(service)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run(spec, stop)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="marops-worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("service", help="intake, governance, budget or metrics")
    args = parser.parse_args(argv)
    # The same event loop as the API processes (uvicorn picks uvloop): the relay and the
    # consumers spend much of their time in socket writes and wake-ups, which uvloop does in C.
    uvloop.run(_main(args.service))


if __name__ == "__main__":
    main()

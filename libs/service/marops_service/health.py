"""Dependency state for /readyz, refreshed in the background.

A readiness probe runs every few seconds per replica; answering it with a database round
trip and a Kafka metadata fetch each time costs the dependencies more than the probe is
worth and lets a slow dependency make the probe itself time out. ``DependencyMonitor``
checks both on its own schedule and /readyz reads what it last saw.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[object]]


@dataclass
class DependencyState:
    ok: bool = False
    detail: str = "not checked yet"
    since: datetime = field(default_factory=lambda: datetime.now(UTC))
    checked_at: datetime | None = None

    def record(self, ok: bool, detail: str) -> None:
        if ok != self.ok:
            self.since = datetime.now(UTC)
        self.ok, self.detail, self.checked_at = ok, detail, datetime.now(UTC)

    @property
    def summary(self) -> str:
        return "ok" if self.ok else f"error: {self.detail}"


class DependencyMonitor:
    def __init__(self, checks: dict[str, Check], *, interval: float = 2.0, timeout: float = 3.0) -> None:
        self._checks = checks
        self._interval = interval
        self._timeout = timeout
        self.states = {name: DependencyState() for name in checks}

    def set_check(self, name: str, check: Check) -> None:
        self._checks[name] = check
        self.states.setdefault(name, DependencyState())

    async def refresh(self) -> None:
        await asyncio.gather(*(self._run(name, check) for name, check in list(self._checks.items())))

    async def _run(self, name: str, check: Check) -> None:
        state = self.states[name]
        was_ok = state.ok
        try:
            await asyncio.wait_for(check(), timeout=self._timeout)
        except Exception as exc:  # any failure means "not reachable", with the reason
            state.record(False, f"{type(exc).__name__} {exc}".strip())
            if was_ok:
                log.warning("%s unreachable: %s", name, state.detail)
        else:
            state.record(True, "ok")
            if not was_ok:
                log.info("%s reachable", name)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.refresh()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._interval)

    def ok(self, name: str) -> bool:
        state = self.states.get(name)
        return state is not None and state.ok

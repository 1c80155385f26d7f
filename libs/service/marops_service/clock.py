"""The one clock of a service: ``Now`` in a route, ``app.state.clock`` to set it (tests).

Use cases never read the time themselves: they take ``now`` (or a ``Clock``) from the
edge, so a test can run them at any moment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from marops_events.envelope import utcnow

Clock = Callable[[], dt.datetime]


def clock_of(request: Request) -> Clock:
    clock: Clock = getattr(request.app.state, "clock", utcnow)
    return clock


async def _now(request: Request) -> dt.datetime:  # async: no thread hop per request
    return clock_of(request)()


Now = Annotated[dt.datetime, Depends(_now)]


async def _clock(request: Request) -> Clock:
    return clock_of(request)


# For a use case that reads the time after it took its locks (so its times follow the
# order its transactions commit in).
CurrentClock = Annotated[Clock, Depends(_clock)]

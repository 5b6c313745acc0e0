"""Small helpers shared by the tests: waiting on a condition with a deadline (never a fixed sleep),
in a thread, in a coroutine or under a Textual Pilot; and a process probe."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import psutil

T = TypeVar("T")


def _polls(predicate: Callable[[], T], timeout: float, describe: Callable[[], object] | None) -> Iterator[T]:
    """Each poll's value (falsy: pause, then poll again); AssertionError after ``timeout`` seconds, saying
    what ``describe()`` returns then (the state that was waited on).  The one deadline loop of the helpers."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        yield value
        if time.monotonic() > deadline:
            seen = f"; state: {describe()!r}" if describe is not None else ""
            raise AssertionError(f"condition not met within {timeout} s{seen}")


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.02,
               describe: Callable[[], object] | None = None) -> T:
    """Poll ``predicate`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    for value in _polls(predicate, timeout, describe):
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("unreachable: _polls ends by raising")


def pid_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie has no code left to run)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


async def async_wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.02,
                           describe: Callable[[], object] | None = None,
                           pause: Callable[[float], Awaitable[object]] | None = None) -> T:
    """:func:`wait_until` for a coroutine: ``pause`` (``asyncio.sleep`` unless given) between polls
    yields to the event loop instead of blocking it."""
    import asyncio

    for value in _polls(predicate, timeout, describe):
        if value:
            return value
        await (pause or asyncio.sleep)(interval)
    raise AssertionError("unreachable: _polls ends by raising")


async def pilot_wait_until(pilot: Any, predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.02,
                           describe: Callable[[], object] | None = None) -> T:
    """:func:`wait_until` for a Pilot test: the app runs (``pilot.pause``) between polls."""
    return await async_wait_until(predicate, timeout, interval, describe, pause=pilot.pause)

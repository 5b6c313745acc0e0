"""Small helpers shared by the tests: waiting on a condition with a deadline (never a fixed sleep),
in a thread, in a coroutine or under a Textual Pilot; and a process probe."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psutil

T = TypeVar("T")


def wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.02,
               describe: Callable[[], object] | None = None) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds,
    saying what ``describe()`` returns then (the state that was waited on)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = f"; state: {describe()!r}" if describe is not None else ""
            raise AssertionError(f"condition not met within {timeout} s{seen}")
        time.sleep(interval)


def pid_running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (a zombie has no code left to run)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


async def async_wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.02,
                           describe: Callable[[], object] | None = None) -> T:
    """:func:`wait_until` for a coroutine: yields to the event loop between polls instead of blocking it."""
    import asyncio

    return await _async_poll(predicate, timeout, describe, lambda: asyncio.sleep(interval))


async def pilot_wait_until(pilot: Any, predicate: Callable[[], T], timeout: float = 20.0, interval: float = 0.02,
                           describe: Callable[[], object] | None = None) -> T:
    """:func:`wait_until` for a Pilot test: the app runs (``pilot.pause``) between polls."""
    return await _async_poll(predicate, timeout, describe, lambda: pilot.pause(interval))


async def _async_poll(predicate: Callable[[], T], timeout: float, describe: Callable[[], object] | None,
                      pause: Callable[[], Awaitable[object]]) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            seen = f"; state: {describe()!r}" if describe is not None else ""
            raise AssertionError(f"condition not met within {timeout} s{seen}")
        await pause()

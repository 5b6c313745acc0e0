"""Small helpers shared by the console engine tests (supervisor, tail, router, watch, crash, CLI)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

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


async def async_wait_until(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.02) -> T:
    """:func:`wait_until` for a coroutine: yields to the event loop between polls instead of blocking it."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)

"""What the drills share: sizes per variant, waiting on a condition, and the orphan scan.

The orphan scan is the drills' ground truth for "0 survivors": every process whose environment
carries the run's tag (children inherit it, also when re-parented to PID 1 or moved to a new
session) or that sits in the run's process group or session.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable
from typing import TypeVar

import psutil

from tests import console_helpers
from tests.fixtures_drills import long_drills

TAG_VARIABLE = "SGL_DRILL_TAG"
T = TypeVar("T")


def size(short: int, long: int) -> int:
    """The drill's size for this variant (``SGL_DRILLS_LONG=1``: the long one)."""
    return long if long_drills() else short


def new_tag() -> str:
    return f"drill-{uuid.uuid4().hex[:12]}"


def wait_until(probe: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    """The first truthy ``probe()`` result; AssertionError naming ``what`` after ``timeout`` seconds
    (the drills' spelling of :func:`tests.console_helpers.wait_until`)."""
    return console_helpers.wait_until(probe, timeout, every, describe=lambda: what)


def tagged(tag: str, pgid: int | None = None, sid: int | None = None) -> list[psutil.Process]:
    """Living processes of one run: its tag in their environment, or its process group or session."""
    found = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid", "status"]):
        if proc.pid == me or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            hit = (pgid is not None and os.getpgid(proc.pid) == pgid) or (
                sid is not None and os.getsid(proc.pid) == sid)
            hit = hit or proc.environ().get(TAG_VARIABLE) == tag
        except (psutil.Error, ProcessLookupError, PermissionError):
            continue
        if hit:
            found.append(proc)
    return found


def survivors(tag: str, pgid: int | None = None, sid: int | None = None, grace: float = 10.0) -> list[str]:
    """Processes of the run still alive after ``grace`` seconds (a dying tree gets that long to go).

    Returns their descriptions (pid and command line); the caller kills them afterwards so that one
    failing drill leaves nothing behind for the next.
    """
    with contextlib.suppress(AssertionError):  # still alive after the grace: reported below
        console_helpers.wait_until(lambda: not tagged(tag, pgid, sid), grace, 0.1)
    alive = tagged(tag, pgid, sid)
    out = []
    for proc in alive:
        try:
            out.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
        except psutil.Error:
            continue
    return out


def kill_tagged(tag: str, pgid: int | None = None, sid: int | None = None) -> None:
    """SIGKILL whatever of the run is left (cleanup after a failed drill)."""
    for proc in tagged(tag, pgid, sid):
        try:
            proc.kill()
        except psutil.Error:
            pass

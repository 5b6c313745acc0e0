"""What the run engine tells its face (the TUI posts these as messages, the CLI prints them).

Why an enum of kinds and one record: both faces switch on the kind, and a test can compare
the streams the two faces saw.  High-rate kinds carry batches; snapshot kinds (``PROCESS``,
``STOPPING``) may replace an older pending one of the same kind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class EventKind(str, Enum):
    STARTED = "started"
    """``data``: ``tui.supervisor.RunInfo``."""
    LINES = "lines"
    """``data``: ``tuple[tui.routed.Line, ...]`` in arrival order."""
    KERNEL = "kernel"
    """``data``: :class:`KernelUpdate`."""
    TIMINGS = "timings"
    """``data``: :class:`TimingsUpdate`."""
    OUTPUT = "output"
    """``data``: path of an image the run saved."""
    UPLOAD = "upload"
    """``data``: ``(path, url)``."""
    PROCESS = "process"
    """``data``: ``tui.procmon.TreeSnapshot`` (about once a second while the run lives, once after)."""
    STOPPING = "stopping"
    """``data``: ``tui.supervisor.StopProgress``."""
    STALLED = "stalled"
    """``data``: seconds without output and CPU."""
    RESUMED = "resumed"
    SAMPLED = "sampled"
    """Output came faster than it could be parsed or shown: ``data`` is the count of lines (or
    bytes, said in ``text``) left out of the views; the run log on disk is complete."""
    ERROR = "error"
    EXITED = "exited"
    """``data``: ``tui.supervisor.ExitStatus``."""
    CRASH = "crash"
    """``data``: ``tui.crash_report.CrashReport`` (abnormal exit or a stall)."""


LIFECYCLE = frozenset({EventKind.STARTED, EventKind.STOPPING, EventKind.STALLED, EventKind.RESUMED,
                       EventKind.ERROR, EventKind.EXITED})
"""Kinds that come from the supervisor's state changes (the rest come from the output)."""

SNAPSHOTS = frozenset({EventKind.PROCESS, EventKind.STOPPING})
"""Kinds where only the newest pending one matters (``can_replace``)."""


@dataclass(frozen=True)
class EngineEvent:
    kind: EventKind
    text: str = ""
    data: Any = None
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class KernelUpdate:
    """Kernel API calls completed since the previous update, and the run's running totals."""

    calls: tuple[tuple[str, Any], ...]
    """``(stream, KernelApiCall)``, oldest first."""
    api_counts: dict[str, int]
    nan_total: int
    inf_total: int
    skipped: int = 0
    """Calls left out of this update (flood): counted in the totals, not listed."""
    workers: dict[str, str] = field(default_factory=dict)
    """Per stream of a ``--num-workers`` run's per-pid kernel API log: ``worker R (pid P, DEVICE)``."""


@dataclass(frozen=True)
class TimingsUpdate:
    finished: tuple[Any, ...]
    """``RequestTimings`` of requests that finished since the previous update."""
    current: Any
    """The current (or last) request's ``RequestTimings``, or None."""
    workers: dict[int, str] = field(default_factory=dict)
    """A ``--num-workers`` run's workers by rank: ``worker R (pid P, DEVICE)`` (a request's ``rank``)."""


def event_summary(event: EngineEvent) -> dict[str, Any]:
    """A JSON-ready summary of ``event`` (``sgl-console run --events``, comparing the two faces):
    kind and text, plus the lines' text, the kernel API names, the finished stages, the exit."""
    out: dict[str, Any] = {"kind": event.kind.value, "text": event.text, "time": round(event.time, 6)}
    data = event.data
    if event.kind is EventKind.LINES:
        out["lines"] = [[line.stream, line.text] for line in data]
    elif event.kind is EventKind.KERNEL:
        out["calls"] = [call.api_name for _stream, call in data.calls]
        out["skipped"] = data.skipped
    elif event.kind is EventKind.TIMINGS:
        out["finished"] = [[row.name for row in req.stages] for req in data.finished]
        out["current"] = [row.name for row in data.current.stages] if data.current is not None else None
    elif event.kind is EventKind.EXITED and data is not None:
        out["exit"] = data.to_dict()
    elif event.kind is EventKind.STARTED and data is not None:
        out["pid"], out["run_dir"] = data.pid, data.run_dir
    elif event.kind in (EventKind.OUTPUT, EventKind.UPLOAD):
        out["data"] = data
    return out

"""What the router hands out: lines, request timings, lifecycle events and the batch of a drain.

Why apart from the router: these are the data the engine and the views read (plain, immutable
or copied on the way out); the router is the machinery that fills them under its lock.
Imports neither textual nor rich.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from backend.records import KernelApiCall, PerfRecord, ProgressRecord, Record

STDOUT = "stdout"
STDERR = "stderr"
CONSOLE = "console"
"""Stream of lines the console itself adds (e.g. ``sgl-console run`` notes); never parsed."""


def file_stream(path: str) -> str:
    """Stream name of a followed file: ``file:<path>``."""
    return f"file:{path}"



class Line(NamedTuple):
    """One output line.  ``text`` keeps ANSI colours for display; ``plain`` is ANSI-stripped.

    A NamedTuple because hundreds of thousands are made per second (a frozen dataclass costs
    several times more to build).
    """

    seq: int
    """Global order of arrival (1, 2, ...); gaps mean lines were dropped from the ring buffer."""
    stream: str
    """``stdout``, ``stderr``, ``file:<path>`` or ``console``."""
    text: str
    plain: str
    time: float
    """``time.time()`` when the router received it."""
    truncated: bool = False
    """The line was longer than the reader's cap; only its head is kept (the log on disk is whole)."""
    cr: bool = False
    """Ended by a bare ``\\r`` (a tqdm redraw): a view may overwrite the previous ``cr`` line."""

    @property
    def is_stderr(self) -> bool:
        return self.stream == STDERR


@dataclass
class StageRow:
    """One stage of a request, from ``[Stage] started...`` / ``finished in`` / ``Error`` lines."""

    name: str
    started_at: float | None = None
    seconds: float | None = None
    error: str | None = None

    @property
    def state(self) -> str:
        """``running``, ``done`` or ``error``."""
        if self.error is not None:
            return "error"
        return "done" if self.seconds is not None else "running"


@dataclass
class RequestTimings:
    """Timings of one request (the current one, or a finished one in the history)."""

    index: int
    """0 for the first request seen by this router, then 1, 2, ..."""
    started_at: float
    stages: list[StageRow] = field(default_factory=list)
    progress: ProgressRecord | None = None
    live_step_s: list[float] = field(default_factory=list)
    """Per-step wall times estimated from the arrival of progress lines (until ``perf`` arrives)."""
    perf: PerfRecord | None = None
    """The ``performance.log`` record of this request, once seen (exact stage and step times)."""
    finished: bool = False
    rank: int | None = None
    """The ``--num-workers`` worker that ran it (its lines' ``DP<r>`` tag); None: an untagged run."""
    last_progress_at: float | None = None
    """When the current step's progress line arrived (the live per-step estimate)."""

    @property
    def steps_ms(self) -> list[float]:
        """Per-step times in ms: exact from ``perf`` when present, else the live estimate."""
        if self.perf is not None and self.perf.steps:
            return list(self.perf.steps)
        return [s * 1000.0 for s in self.live_step_s]

    @property
    def total_s(self) -> float | None:
        if self.perf is not None:
            return self.perf.total_duration_ms / 1000.0
        done = [s.seconds for s in self.stages if s.seconds is not None]
        return sum(done) if done and self.finished else None

    def stage_seconds(self) -> dict[str, float]:
        """Stage name -> seconds (perf record values win over log lines)."""
        out = {s.name: s.seconds for s in self.stages if s.seconds is not None}
        if self.perf is not None:
            out.update({s.name: s.execution_time_ms / 1000.0 for s in self.perf.stages})
        return out

    def copy(self) -> RequestTimings:
        return replace(self, stages=[replace(s) for s in self.stages], live_step_s=list(self.live_step_s))


@dataclass(frozen=True)
class Event:
    """A non-line fact for the views (posted by the supervisor: started, stop progress, stalled, exited)."""

    kind: str
    """``started``, ``stopping``, ``stalled``, ``resumed``, ``exited``, ``error`` or any feeder-defined kind."""
    text: str
    data: Any = None
    time: float = field(default_factory=time.time)


@dataclass(frozen=True)
class Batch:
    """Everything new since the previous :meth:`Router.drain`; cumulative fields say so."""

    lines: tuple[Line, ...] = ()
    dropped: int = 0
    """Lines dropped from the ring buffer since the previous drain (the UI fell behind)."""
    records: tuple[tuple[Line, Record], ...] = ()
    """Parsed records of new lines (stage, progress, perf, output saved, upload, CUDA error ...)."""
    kernel_calls: tuple[tuple[str, KernelApiCall], ...] = ()
    """Kernel API blocks completed since the previous drain, with their stream."""
    events: tuple[Event, ...] = ()
    finished_requests: tuple[RequestTimings, ...] = ()
    """Requests that finished since the previous drain (for the run history)."""
    current: RequestTimings | None = None
    """Snapshot of the current (or last) request's timings; ``None`` before any stage line."""
    timings_changed: bool = False
    api_counts: dict[str, int] = field(default_factory=dict)
    """Cumulative kernel API calls per API name."""
    nan_total: int = 0
    """Cumulative NaN count over all completed kernel API calls' tensors."""
    inf_total: int = 0
    last_perf: PerfRecord | None = None
    outputs: tuple[str, ...] = ()
    """Output paths saved since the previous drain."""
    uploads: tuple[tuple[str, str], ...] = ()
    """``(path, url)`` uploads since the previous drain."""
    cuda_errors: tuple[Line, ...] = ()
    total_lines: int = 0
    """Cumulative lines received (including dropped ones)."""
    skipped_bytes: int = 0
    """Bytes of the child's output left unparsed since the previous drain (it wrote faster than
    the console parses; the run log on disk has them)."""

    @property
    def empty(self) -> bool:
        return not (self.lines or self.dropped or self.records or self.kernel_calls or self.events
                    or self.finished_requests or self.timings_changed or self.skipped_bytes)

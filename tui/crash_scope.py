"""Which request a run was on when it died: requests, stages, denoising steps and their errors.

Why: a crash report that headlines the error of an earlier request, one the runtime logged and
survived, sends the operator after the wrong bug. This module reads the ordinary log lines (stage
lines, ``Processing prompt N/M``, completion and failure lines, traceback last lines) and tqdm's
progress fragments, cuts them into requests, and marks every error either *fatal* (nothing ran
after it) or *history* (a later request or step ran). It parses no line shape itself: every line
goes through :func:`backend.records.parse_line`.

Several files are merged by time (``[MM-DD HH:MM:SS]`` and the kernel API's ``[YYYY-MM-DD ...]``
stamps; a line without a stamp keeps the last one of its file). Progress bars are matched to the
requests that ran a denoising stage, from the end, since tqdm's ``\\r`` fragments carry no time.

Imports neither textual nor rich.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from backend.records import (
    CudaError,
    ExceptionRaised,
    GenerationDone,
    GenerationFailed,
    PerfRecord,
    ProgressRecord,
    RequestStarted,
    StageError,
    StageFinished,
    StageStarted,
    cuda_kind,
    dp_rank,
    log_rank_tag,
    parse_line,
    strip_ansi,
)
from tui.lines import LineSplitter

_STAMP_RE = re.compile(r"^\[(?:\d{4}-)?(\d{2}-\d{2} \d{2}:\d{2}:\d{2})(?: [A-Z]{2,4}\d+)*\] ")
_STEP_STAGE_RE = re.compile(r"^denoising_step_(\d+)$")
LATE = "99-99 99:99:99"
"""Sort key of lines before any stamp in a file with none (stderr: tqdm, an uncaught traceback)."""


@dataclass(frozen=True)
class SourceLine:
    """One line of one log file (a tqdm ``\\r`` fragment is a line), ANSI removed."""

    source: str
    seq: int
    stamp: str
    """``MM-DD HH:MM:SS``: the line's own stamp, else the last one above it in its file."""
    text: str


def read_source(path: str, name: str | None = None, max_bytes: int | None = None) -> list[SourceLine]:
    """A file as lines (``\\n`` and bare ``\\r`` both end one), stamps filled in; with ``max_bytes``
    only its last ``max_bytes`` (from the first whole line), so a crash view opens fast on a huge log."""
    splitter = LineSplitter(split_cr=True)
    texts: list[str] = []
    with open(path, "rb") as fh:
        if max_bytes is not None:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - max_bytes))
            if size > max_bytes:
                fh.readline()  # a partial first line would parse as garbage
        while chunk := fh.read(1 << 20):
            texts += [t for t, _trunc, _cr in splitter.feed(chunk)]
    texts += [t for t, _trunc, _cr in splitter.flush()]
    return stamp_lines(name or path, texts)


def stamp_lines(source: str, texts: Iterable[str]) -> list[SourceLine]:
    """Give each line its own stamp or the last one above it; lines above the first stamp get the
    first stamp of the file (or :data:`LATE` when the file has none)."""
    plain = [strip_ansi(t) for t in texts]
    stamps: list[str | None] = []
    last: str | None = None
    for text in plain:
        m = _STAMP_RE.match(text)
        last = m.group(1) if m else last
        stamps.append(last)
    first = next((s for s in stamps if s is not None), LATE)
    return [SourceLine(source, i, s or first, t) for i, (s, t) in enumerate(zip(stamps, plain, strict=True))]


def merge_by_time(sources: Sequence[Sequence[SourceLine]]) -> list[SourceLine]:
    """All lines in time order; a file's own order is kept, ties go to the file given first."""
    # Each file stays in its own order even if its stamps step back (a clock change): every stamp is
    # clamped to the highest seen so far in its file before sorting.
    clamped = []
    for n, src in enumerate(sources):
        high = ""
        for line in src:
            high = max(high, line.stamp)
            clamped.append((high, n, line.seq, line))
    return [item[3] for item in sorted(clamped, key=lambda t: (t[0], t[1], t[2]))]


@dataclass
class ErrorSeen:
    """One error line, scoped: ``fatal`` when nothing ran after it, else history."""

    text: str
    kind: str
    """``stage``, ``step``, ``request`` (Failed to generate ...) or ``exception``."""
    cuda: str | None = None
    """``device_assert`` / ``oom`` / ``cuda`` when the text is a CUDA error, else None."""
    stage: str | None = None
    step: int | None = None
    source: str = ""
    stamp: str = ""
    fatal: bool = False


@dataclass
class RequestScope:
    """One request as the logs show it."""

    ordinal: int
    label: str
    request_id: str | None = None
    stages: list[str] = field(default_factory=list)
    open_stages: list[str] = field(default_factory=list)
    failed_stage: str | None = None
    step: int | None = None
    """0-based index of the step in flight (or the one that failed)."""
    total_steps: int | None = None
    step_source: str | None = None
    """``step error`` (``[denoising_step_N] Error ...``) or ``progress`` (tqdm's last ``n/N``)."""
    errors: list[ErrorSeen] = field(default_factory=list)
    done: bool = False
    failed: bool = False
    first_stamp: str = ""
    last_stamp: str = ""
    rank: int | None = None
    """The ``--num-workers`` worker whose ``DP<r>``-tagged lines these are (None: untagged lines)."""

    @property
    def ended(self) -> bool:
        return self.done or self.failed

    @property
    def stage_in_flight(self) -> str | None:
        return self.open_stages[-1] if self.open_stages else None

    @property
    def denoising(self) -> bool:
        return any("Denois" in s or "denois" in s for s in self.stages)

    def step_text(self) -> str | None:
        if self.step is None:
            return None
        total = f" of {self.total_steps}" if self.total_steps else ""
        return f"denoising_step_{self.step} (step {self.step + 1}{total}, from {self.step_source})"


@dataclass
class Timeline:
    requests: list[RequestScope]
    loose_errors: list[ErrorSeen]
    """Errors seen before any request (start-up) or with no request lines at all."""
    bars: list[list[ProgressRecord]]
    call_context: dict[tuple[str, int], tuple[str | None, str | None, int | None]] = field(default_factory=dict)
    """``(source, n)`` of the n-th kernel API block of a source -> (request label, stage in flight, step).
    The step is set only when tqdm's fragments came through the same source (``2>&1`` into one file,
    or the live console's arrival order): only then is their order with the block known."""

    @property
    def last(self) -> RequestScope | None:
        return self.requests[-1] if self.requests else None

    def last_of(self, rank: int | None) -> RequestScope | None:
        """The last request of worker ``rank`` (its tagged lines); the last of all when it has none."""
        mine = [r for r in self.requests if r.rank == rank]
        return mine[-1] if mine else self.last

    def errors(self) -> list[ErrorSeen]:
        return [*self.loose_errors, *(e for r in self.requests for e in r.errors)]


def _progress_bars(lines: Sequence[SourceLine]) -> list[list[ProgressRecord]]:
    """tqdm bars in order; a fragment at ``0/N`` (or a smaller count than before) starts a new one."""
    bars: list[list[ProgressRecord]] = []
    for line in lines:
        if "%|" not in line.text:
            continue
        record = ProgressRecord.parse(line.text)
        if record is None:
            continue
        if not bars or record.step == 0 or record.step < bars[-1][-1].step or record.total != bars[-1][-1].total:
            bars.append([])
        bars[-1].append(record)
    return bars


def build_timeline(lines: Sequence[SourceLine]) -> Timeline:
    """Cut merged lines into requests and scope every error (see the module doc)."""
    requests: list[RequestScope] = []
    loose: list[ErrorSeen] = []
    current: RequestScope | None = None
    currents: dict[int | None, RequestScope] = {}
    """Per worker rank (its lines' ``DP<r>`` tag; None: untagged), the request its lines belong to."""
    perf_ids: list[str] = []
    # Per source and rank, the seq of the last line that shows work (for fatal vs history).
    last_work: dict[tuple[str, int | None], int] = {}

    def new_request(label: str | None, request_id: str | None, stamp: str, rank: int | None) -> RequestScope:
        scope = RequestScope(len(requests) + 1, label or f"request #{len(requests) + 1}", request_id,
                             first_stamp=stamp, last_stamp=stamp, rank=rank)
        requests.append(scope)
        currents[rank] = scope
        return scope

    def add_error(err: ErrorSeen) -> None:
        (current.errors if current is not None else loose).append(err)

    def rank_of(line: SourceLine, progress: bool = False) -> int | None:
        rank = dp_rank(log_rank_tag(line.text))
        if rank is None and progress and None not in currents:  # tqdm is untagged: only rank 0 draws it
            open_ranks = [r for r, scope in currents.items() if r is not None and not scope.ended]
            rank = min(open_ranks) if open_ranks else None
        return rank

    error_seq: list[tuple[ErrorSeen, tuple[str, int | None], int]] = []
    headers: dict[str, int] = {}
    bar_at: dict[str, tuple[int, int]] = {}  # source -> (request ordinal, last tqdm count) in that source
    context: dict[tuple[str, int], tuple[str | None, str | None, int | None]] = {}
    for line in lines:
        if "SGLang Kernel API " in line.text:
            # Kernel API blocks are crash_calls' business; a header still shows the process working.
            if "SGLang Kernel API Call:" in line.text:
                last_work[(line.source, None)] = line.seq
                n = headers.get(line.source, 0)
                headers[line.source] = n + 1
                if current is not None and not current.ended:
                    stage = current.stage_in_flight
                    seen = bar_at.get(line.source)
                    step = seen[1] if seen and seen[0] == current.ordinal and stage and "enois" in stage else None
                    context[(line.source, n)] = (current.label, stage, step)
            continue
        if "%|" in line.text and (progress := ProgressRecord.parse(line.text)) is not None:
            rank = rank_of(line, progress=True)
            current = currents.get(rank, current)
            last_work[(line.source, rank)] = line.seq
            if current is not None:
                bar_at[line.source] = (current.ordinal, progress.step)
            continue
        record = parse_line(line.text)
        if record is None:
            continue
        rank = rank_of(line)
        current = currents.get(rank, current if rank is None and not currents else None)
        work = (line.source, rank)
        if isinstance(record, PerfRecord):
            perf_ids.append(record.request_id)
            continue
        if isinstance(record, RequestStarted):
            label = f"prompt {record.index}/{record.total}" if record.index else f"request {record.request_id}"
            current = new_request(label, record.request_id, line.stamp, rank)
            last_work[work] = line.seq
            continue
        if isinstance(record, StageStarted):
            if current is None or current.ended or record.stage in current.stages:
                current = new_request(None, None, line.stamp, rank)
            current.stages.append(record.stage)
            current.open_stages.append(record.stage)
            current.last_stamp = line.stamp
            last_work[work] = line.seq
            continue
        if isinstance(record, StageFinished):
            if current is not None and record.stage in current.open_stages:
                current.open_stages.remove(record.stage)
                current.last_stamp = line.stamp
            last_work[work] = line.seq
            continue
        if isinstance(record, GenerationDone):
            if current is not None:
                current.done = True
                current.open_stages.clear()
            last_work[work] = line.seq
            continue
        err: ErrorSeen | None = None
        if isinstance(record, StageError):
            step_m = _STEP_STAGE_RE.match(record.stage)
            err = ErrorSeen(record.error, "step" if step_m else "stage", cuda_kind(record.error), record.stage,
                            int(step_m.group(1)) if step_m else None)
            if current is not None:
                if step_m:
                    current.step, current.step_source = int(step_m.group(1)), "step error"
                else:
                    current.failed_stage = current.failed_stage or record.stage
                    if record.stage in current.open_stages:
                        current.open_stages.remove(record.stage)
        elif isinstance(record, GenerationFailed):
            err = ErrorSeen(record.message, "request", cuda_kind(record.message))
            if current is not None:
                current.failed = True
        elif isinstance(record, (ExceptionRaised, CudaError)) and line.text[:1].isspace():
            pass  # a traceback's source line (``    raise RuntimeError("CUDA error ...")``), not the error
        elif isinstance(record, ExceptionRaised):
            err = ErrorSeen(f"{record.exc_type}: {record.message}", "exception", record.cuda)
        elif isinstance(record, CudaError):
            err = ErrorSeen(record.message, "exception", record.kind)
        if err is not None:
            err.source, err.stamp = line.source, line.stamp
            add_error(err)
            error_seq.append((err, work, line.seq))
    for err, key, seq in error_seq:
        err.fatal = last_work.get(key, -1) < seq
    # Request ids: performance.log holds one record per completed request, in order.
    done = [r for r in requests if r.done]
    for scope, rid in zip(reversed(done), reversed(perf_ids), strict=False):
        scope.request_id = scope.request_id or rid
    bars = _progress_bars(lines)
    _attach_bars([r for r in requests if r.denoising and r.rank in (None, 0)], bars)  # tqdm: rank 0 only
    return Timeline(requests, loose, bars, context)


def _attach_bars(denoising: list[RequestScope], bars: list[list[ProgressRecord]]) -> None:
    """The k-th last bar belongs to the k-th last request that ran a denoising stage."""
    for scope, bar in zip(reversed(denoising), reversed(bars), strict=False):
        last = bar[-1]
        scope.total_steps = scope.total_steps or last.total
        if scope.step is None and last.step < last.total and not scope.done:
            scope.step, scope.step_source = last.step, "progress"


def timeline_of(paths: Sequence[str]) -> tuple[Timeline, list[SourceLine]]:
    """Read, merge and cut ``paths``; also returns the merged lines (for the tail)."""
    merged = merge_by_time([read_source(p) for p in paths])
    return build_timeline(merged), merged


__all__ = [
    "ErrorSeen", "RequestScope", "SourceLine", "Timeline", "build_timeline", "merge_by_time", "read_source",
    "stamp_lines", "timeline_of",
]

"""The one router between the feeders (the supervisor's line pump, file tailers) and the views.

Why one router: every view (output, timings, kernel API, crash report) must see the same
lines in the same order, parsed once.  Feeder threads call :meth:`Router.feed` with the
lines they read (never the pipe readers themselves: the line pump, off the read path); the
run engine's dispatcher calls :meth:`Router.drain` when :attr:`Router.on_change` wakes it and
gets one :class:`Batch` with everything new.  Parsing happens in the feeder's thread (via
``backend.records``; this module parses nothing itself), under a short lock, so a drain only
swaps buffers.  Memory is bounded: pending lines live in a ring buffer (the oldest are dropped
and counted when the face falls behind), and the full output stays on disk (the supervisor
writes it).

Imports neither textual nor rich.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from backend.records import (
    CudaError,
    KernelApiCall,
    KernelApiLogParser,
    OutputSaved,
    PerfRecord,
    ProgressRecord,
    Record,
    RequestStarted,
    StageError,
    StageFinished,
    StageStarted,
    Uploaded,
    WorkerEnded,
    WorkerPlaced,
    dp_rank,
    log_rank_tag,
    note_worker,
    parse_line,
    strip_ansi,
)
from tui.routed import CONSOLE, STDERR, STDOUT, Batch, Event, Line, RequestTimings, StageRow

_MISS = object()
_CACHE_SIZE = 4096
_CACHE_MAX_CHARS = 256
"""``parse_line`` is pure: results are memoised per distinct ANSI-free text (kernel API blocks repeat
their structure lines), in a dict cleared when it reaches ``_CACHE_SIZE`` entries; lines longer than
``_CACHE_MAX_CHARS`` are not memoised, so the memo stays under about 1 MB."""


class Router:
    """Thread-safe fan-in of lines from any number of feeders; drained by the UI.

    Args:
        max_pending: ring-buffer size of lines waiting for :meth:`drain` (oldest dropped beyond it).
        max_pending_chars: the same ring's bound in characters (lines are capped at 16 KiB each, so
            20,000 of them could otherwise hold 320 MB).
        tail_size: how many of the latest lines :meth:`tail` keeps (crash report: last 50).
        max_records: bound on pending records / kernel calls / events between drains.
        history_size: finished requests kept for the run history.

    Every stream but :data:`CONSOLE` is parsed; each has its own ``KernelApiLogParser``.
    """

    def __init__(
        self,
        max_pending: int = 20_000,
        max_pending_chars: int = 8_000_000,
        tail_size: int = 500,
        max_records: int = 10_000,
        history_size: int = 100,
    ) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._parse_cache: dict[str, Record | None | object] = {}
        self._lines: deque[Line] = deque()
        self._max_pending = max_pending
        self._max_chars = max_pending_chars
        self._pending_chars = 0
        self._tail: deque[Line] = deque(maxlen=tail_size)
        self._tail_size = tail_size
        self._out_tail: deque[Line] = deque(maxlen=tail_size)
        self._records: deque[tuple[Line, Record]] = deque(maxlen=max_records)
        self._calls: deque[tuple[str, KernelApiCall]] = deque(maxlen=max_records)
        self._recent_calls: deque[tuple[str, KernelApiCall]] = deque(maxlen=1000)
        self._events: deque[Event] = deque(maxlen=max_records)
        self._history_size = history_size
        self._finished: deque[RequestTimings] = deque(maxlen=history_size)
        self._history: deque[RequestTimings] = deque(maxlen=history_size)
        self._outputs: deque[str] = deque(maxlen=1000)
        self._uploads: deque[tuple[str, str]] = deque(maxlen=1000)
        self._workers: dict[int, dict[str, Any]] = {}
        """Per worker rank (``--num-workers``): pid, device, and how it ended, from the backend's lines."""
        self._cuda: deque[Line] = deque(maxlen=1000)
        self._all_cuda: deque[Line] = deque(maxlen=100)
        self._parsers: dict[str, tuple[threading.Lock, KernelApiLogParser]] = {}
        self._api_counts: dict[str, int] = {}
        self._nan = 0
        self._inf = 0
        self._dropped = 0
        self._total = 0
        self._current: RequestTimings | None = None
        """The request last heard of (the Timings view's "current")."""
        self._open: dict[int | None, RequestTimings] = {}
        """The request in progress per worker rank (``DP<r>`` tags; None: lines without a tag)."""
        self._rank_of_request: dict[str, int] = {}
        """Request id -> worker rank, from a worker's tagged ``Request <id> started`` line (its
        ``performance.log`` record carries the same id but no tag)."""
        self._requests = 0
        self._timings_changed = False
        self._last_perf: PerfRecord | None = None
        self._last_output: str | None = None
        self._skipped_bytes = 0
        self.last_line_at: float | None = None
        """``time.monotonic()`` of the latest line from a child stream (stall detection)."""
        self.on_change: Callable[[], None] | None = None
        """Called (from the feeding thread, outside the lock) after every feed, post or skip: the
        engine's dispatcher waits on it instead of polling."""

    # ---- feeding (any thread) -----------------------------------------------------------------

    def feed(self, stream: str, lines: Iterable[str | tuple[str, bool, bool]]) -> None:
        """Add lines from one stream, in order.

        Parsing (``backend.records``) runs here, in the feeder's thread and outside the router lock;
        the lock is held only to commit the results, so a drain never waits for parsing.

        Args:
            stream: ``stdout``, ``stderr``, ``file:<path>`` or ``console``.
            lines: each a ``str`` (no line terminator) or ``(text, truncated, cr)``.
        """
        now = time.time()
        prepared: list[tuple[str, str, bool, bool]] = []
        for item in lines:
            text, truncated, cr = (item, False, False) if isinstance(item, str) else item
            prepared.append((text, strip_ansi(text) if "\x1b" in text else text, truncated, cr))
        if not prepared:
            return
        parsed: list[tuple[int, Record]] = []
        calls: list[KernelApiCall] = []
        if stream != CONSOLE:
            with self._lock:
                slot = self._parsers.get(stream)
                if slot is None:
                    slot = self._parsers[stream] = (threading.Lock(), KernelApiLogParser())
            cache = self._parse_cache
            with slot[0]:  # one feeder per stream is the rule; this keeps a second one safe
                kfeed = slot[1].feed
                for i, (_, plain, _, _) in enumerate(prepared):
                    record = cache.get(plain, _MISS)
                    if record is _MISS:
                        record = parse_line(plain) if plain else None
                        if len(plain) <= _CACHE_MAX_CHARS:
                            if len(cache) >= _CACHE_SIZE:
                                cache.clear()
                            cache[plain] = record
                    if record is not None:
                        parsed.append((i, record))  # type: ignore[arg-type]  # the cache holds parse_line results only
                    done = kfeed(plain)
                    if done:
                        calls += done
        with self._lock:
            seq = self._seq
            new = [Line(seq + i + 1, stream, t, p, now, tr, cr) for i, (t, p, tr, cr) in enumerate(prepared)]
            self._seq = seq + len(new)
            self._total += len(new)
            ring = self._lines
            ring.extend(new)
            self._pending_chars += sum(len(t) for t, _, _, _ in prepared)
            while len(ring) > self._max_pending or (self._pending_chars > self._max_chars and len(ring) > 1):
                self._pending_chars -= len(ring.popleft().text)
                self._dropped += 1
            self._tail.extend(new[-self._tail_size:])
            if stream in (STDOUT, STDERR):
                self._out_tail.extend(new[-self._tail_size:])
            for i, record in parsed:
                self._on_record(new[i], record)
            if calls:
                self._on_calls(stream, calls)
            if stream != CONSOLE:
                self.last_line_at = time.monotonic()
        if self.on_change is not None:
            self.on_change()

    def feed_line(self, stream: str, text: str) -> None:
        """Convenience: one line."""
        self.feed(stream, (text,))

    def post(self, event: Event) -> None:
        """Post a non-line event (supervisor state changes); shows up in the next :class:`Batch`."""
        with self._lock:
            self._events.append(event)
            if event.kind == "exited":
                # The process is gone: its last requests are over even without a performance.log
                # record (stage logging off), so they join the run history.
                self._finish_open()
        if self.on_change is not None:
            self.on_change()

    def skip(self, stream: str, nbytes: int) -> None:
        """``nbytes`` of ``stream`` were left unparsed (flood): its kernel API parser restarts
        (a block cut in two is no block) and the next :class:`Batch` says how much was skipped."""
        with self._lock:
            self._parsers.pop(stream, None)
            self._skipped_bytes += nbytes
        if self.on_change is not None:
            self.on_change()

    def end_stream(self, stream: str) -> list[KernelApiCall]:
        """The stream ended (EOF): flush its kernel API parser; calls still open come back
        ``completed=False`` (the in-flight call at a crash) and are also queued for the UI."""
        with self._lock:
            slot = self._parsers.pop(stream, None)
        if slot is None:
            return []
        with slot[0]:
            calls = slot[1].flush()
        with self._lock:
            if calls:
                self._on_calls(stream, calls)
            return calls

    # ---- internal (lock held) -----------------------------------------------------------------

    def _on_record(self, line: Line, record: Record) -> None:
        self._records.append((line, record))
        if isinstance(record, (StageStarted, StageFinished, StageError, ProgressRecord)):
            self._on_timing(line, record, self._rank_of(line, record))
        elif isinstance(record, PerfRecord):
            self._last_perf = record
            rank = self._rank_of_request.get(record.request_id)
            cur = self._open.get(rank)
            if cur is None or cur.perf is not None:
                cur = self._new_request(line.time, rank)
            self._current = cur
            cur.perf = record
            for st in record.stages:
                row = next((s for s in cur.stages if s.name == st.name), None)
                if row is None:
                    cur.stages.append(StageRow(st.name, seconds=st.execution_time_ms / 1000.0))
                elif row.seconds is None:
                    row.seconds = st.execution_time_ms / 1000.0
            if not cur.finished:
                self._finish_request(cur)
        elif isinstance(record, RequestStarted):
            rank = dp_rank(log_rank_tag(line.plain))
            if record.request_id is not None and rank is not None:
                self._rank_of_request[record.request_id] = rank
                if len(self._rank_of_request) > self._history_size:  # a long serve: the oldest ids go
                    del self._rank_of_request[next(iter(self._rank_of_request))]
        elif isinstance(record, OutputSaved):
            self._outputs.append(record.path)
            self._last_output = record.path
        elif isinstance(record, Uploaded):
            self._uploads.append((record.path, record.url))
        elif isinstance(record, (WorkerPlaced, WorkerEnded)):
            note_worker(self._workers, record)
        elif isinstance(record, CudaError):
            self._cuda.append(line)
            self._all_cuda.append(line)
        self._timings_changed = self._timings_changed or isinstance(
            record, (StageStarted, StageFinished, StageError, ProgressRecord, PerfRecord))

    def _rank_of(self, line: Line, record: Record) -> int | None:
        """The worker a stage or progress line belongs to: its ``DP<r>`` tag; an untagged progress
        line (tqdm on stderr has no prefix) is the lowest rank's, as only rank 0 draws the bar."""
        rank = dp_rank(log_rank_tag(line.plain))
        if rank is None and isinstance(record, ProgressRecord) and None not in self._open:
            ranks = [r for r, req in self._open.items() if r is not None and not req.finished]
            rank = min(ranks) if ranks else None
        return rank

    def _on_timing(self, line: Line, record: StageStarted | StageFinished | StageError | ProgressRecord,
                   rank: int | None) -> None:
        cur = self._open.get(rank)
        if cur is not None and self._late(cur, record):
            return
        running = cur if cur is not None and not cur.finished else None
        if isinstance(record, StageStarted):
            if running is None or any(s.name == record.stage for s in running.stages):
                if running is not None:
                    self._finish_request(running)
                running = self._new_request(line.time, rank)
            running.stages.append(StageRow(record.stage, started_at=line.time))
        elif isinstance(record, (StageFinished, StageError)):
            running = running or self._new_request(line.time, rank)
            row = next((s for s in reversed(running.stages) if s.name == record.stage and s.state == "running"),
                       None)
            if row is None:
                row = StageRow(record.stage)
                running.stages.append(row)
            if isinstance(record, StageFinished):
                row.seconds = record.seconds
            else:
                row.error = record.error
                row.seconds = record.ms / 1000.0
        else:
            running = running or self._new_request(line.time, rank)
            self._on_progress(running, line.time, record)
        self._current = running

    @staticmethod
    def _late(cur: RequestTimings, record: StageStarted | StageFinished | StageError | ProgressRecord) -> bool:
        """A line of ``cur`` parsed after its ``performance.log`` record finished it: the file's tailer
        can be ahead of the pipe's parser on a loaded host.  Its times are in the record already; taken
        for a new request it would split one request in two (seen under two CPU hogs)."""
        if not cur.finished or cur.perf is None:
            return False
        if isinstance(record, ProgressRecord):  # its bar (stderr's parse can lag too), last redraw included
            last = cur.progress
            if last is None:
                return record.total == len(cur.perf.steps)
            return record.total == last.total and record.step >= last.step
        if record.stage not in {s.name for s in cur.perf.stages}:
            return False
        if isinstance(record, StageStarted):  # a stage the record listed, never seen starting
            return any(s.name == record.stage and s.started_at is None for s in cur.stages)
        return True  # a stage's end: its start (same stream, earlier) was this request's

    @staticmethod
    def _on_progress(cur: RequestTimings, now: float, record: ProgressRecord) -> None:
        prev = cur.progress
        if prev is not None and record.step == prev.step + 1 and cur.last_progress_at is not None:
            cur.live_step_s.append(max(0.0, now - cur.last_progress_at))
        elif prev is None and record.step == 1:
            # The first step has no progress line before it: it began with the denoising stage.
            began = next((s.started_at for s in cur.stages if s.name == "DenoisingStage"), None)
            if began is not None:
                cur.live_step_s.append(max(0.0, now - began))
        elif record.step == 0 or (prev is not None and record.step < prev.step):
            cur.live_step_s.clear()
        if prev is None or record.step != prev.step:
            cur.last_progress_at = now
        cur.progress = record

    def _new_request(self, now: float, rank: int | None = None) -> RequestTimings:
        req = RequestTimings(index=self._requests, started_at=now, rank=rank)
        self._open[rank] = self._current = req
        self._requests += 1
        return req

    def _finish_request(self, req: RequestTimings) -> None:
        req.finished = True
        snap = req.copy()
        self._finished.append(snap)
        self._history.append(snap)

    def _finish_open(self) -> None:
        for req in self._open.values():
            if not req.finished:
                self._finish_request(req)

    def _on_calls(self, stream: str, calls: Sequence[KernelApiCall]) -> None:
        for call in calls:
            self._calls.append((stream, call))
            self._recent_calls.append((stream, call))
            self._api_counts[call.api_name] = self._api_counts.get(call.api_name, 0) + 1
            self._nan += call.nan_total()
            self._inf += call.inf_total()

    # ---- draining (UI thread) -----------------------------------------------------------------

    def drain(self, max_lines: int | None = None) -> Batch:
        """Take everything new.  O(batch); the lock is held only to swap buffers.

        Args:
            max_lines: at most this many lines (the rest stay for the next drain); None = all.
        """
        with self._lock:
            if max_lines is None or max_lines >= len(self._lines):
                lines = tuple(self._lines)
                self._lines.clear()
                self._pending_chars = 0
            else:
                lines = tuple(self._lines.popleft() for _ in range(max_lines))
                self._pending_chars -= sum(len(ln.text) for ln in lines)
            records = tuple(self._records)
            self._records.clear()
            calls = tuple(self._calls)
            self._calls.clear()
            events = tuple(self._events)
            self._events.clear()
            finished = tuple(self._finished)
            self._finished.clear()
            outputs = tuple(self._outputs)
            self._outputs.clear()
            uploads = tuple(self._uploads)
            self._uploads.clear()
            cuda = tuple(self._cuda)
            self._cuda.clear()
            dropped, self._dropped = self._dropped, 0
            skipped, self._skipped_bytes = self._skipped_bytes, 0
            changed, self._timings_changed = self._timings_changed, False
            current = self._current.copy() if self._current is not None else None
            return Batch(
                lines=lines, dropped=dropped, records=records, kernel_calls=calls, events=events,
                finished_requests=finished, current=current, timings_changed=changed,
                api_counts=dict(self._api_counts), nan_total=self._nan, inf_total=self._inf,
                last_perf=self._last_perf, outputs=outputs, uploads=uploads, cuda_errors=cuda,
                total_lines=self._total, skipped_bytes=skipped,
            )

    # ---- queries (any thread) -----------------------------------------------------------------

    def tail(self, n: int = 50, output_only: bool = False) -> list[Line]:
        """The latest ``n`` lines (independent of draining).

        Args:
            output_only: only the child's stdout/stderr (not followed files); the crash report's
                "last 50 output lines".
        """
        with self._lock:
            return list(self._out_tail if output_only else self._tail)[-n:]

    def open_kernel_calls(self) -> dict[str, tuple[KernelApiCall, ...]]:
        """Per stream, kernel API calls started and not finished (outermost first)."""
        with self._lock:
            slots = list(self._parsers.items())
        out = {}
        for stream, (lock, parser) in slots:
            with lock:
                calls = parser.open_calls
            if calls:
                out[stream] = calls
        return out

    def recent_kernel_calls(self) -> list[tuple[str, KernelApiCall]]:
        """The latest completed (or flushed) kernel API calls, oldest first (bounded)."""
        with self._lock:
            return list(self._recent_calls)

    def cuda_error_lines(self) -> list[Line]:
        """CUDA / accelerator error lines seen so far (bounded, latest 100)."""
        with self._lock:
            return list(self._all_cuda)

    def history(self) -> list[RequestTimings]:
        """Finished requests, oldest first (bounded)."""
        with self._lock:
            return [r.copy() for r in self._history]

    def current(self) -> RequestTimings | None:
        with self._lock:
            return self._current.copy() if self._current is not None else None

    def workers(self) -> list[dict[str, Any]]:
        """The run's workers by rank (``rank``, ``pid``, ``device``, ``detail``; once ended ``outputs``,
        ``exit_code``, ``reported``); empty for a run without ``--num-workers``."""
        with self._lock:
            return [dict(w) for _, w in sorted(self._workers.items())]

    @property
    def last_output(self) -> str | None:
        """Path of the last output saved."""
        return self._last_output

    @property
    def total_lines(self) -> int:
        return self._total

    def stats(self) -> dict[str, Any]:
        """Counters for summaries (``sgl-console run``): lines, kernel calls per API, NaN/Inf."""
        with self._lock:
            return {"lines": self._total, "api_counts": dict(self._api_counts), "nan_total": self._nan,
                    "inf_total": self._inf, "requests": self._requests}

    def reset_run(self) -> None:
        """Forget per-run parse state (kernel parsers, current request) before a restart; history stays."""
        with self._lock:
            self._parsers.clear()
            self._finish_open()
            self._open.clear()
            self._rank_of_request.clear()
            self._current = None
            self._api_counts.clear()
            self._nan = self._inf = 0
            self._tail.clear()
            self._out_tail.clear()
            self._all_cuda.clear()
            self._recent_calls.clear()
            self._workers.clear()
            self._timings_changed = True

"""Bytes from the pipe readers to parsed lines in the router, in a thread of its own.

Why: a reader that parsed would slow the child down to the parser's speed (the pipe fills,
the child blocks writing).  The readers only hand bytes here; this thread splits and parses
them.  When the child writes faster than that, the backlog is bounded: the oldest bytes are
left out of the views (the run log on disk keeps them) and the router is told, so the views
can say they are sampling.  At end of stream the backlog is cut to its newest part, so the
exit and the crash report (which need the tail) are never late behind a flood.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from tui.lines import MAX_LINE_BYTES, LineSplitter

MAX_BACKLOG = 1 << 20
"""Bytes waiting to be parsed before the oldest are left out (about 20k typical lines)."""
EOF_BACKLOG = 256 << 10
"""At end of stream, at most this many waiting bytes are still parsed: a burst written just before
dying (a crash's last output) is parsed whole, while the exit never waits behind a flood (the
supervisor reports it after at most 0.8 s of parsing anyway)."""
TAKE_BYTES = 16 << 10
"""Bytes the thread takes per turn (a read of up to 1 MiB is pushed as slices of this size): between
turns it passes the input gate, so a key waits for at most one turn (about 7 ms of parsing); what
it holds is out of reach of the end-of-stream cut."""


class LinePump:
    """One parse thread for any number of byte streams.

    Args:
        feed: ``feed(stream, lines)``, lines as ``(text, truncated, cr)`` (the router's).
        end: ``end(stream)`` when a stream's last bytes were fed (flushes its kernel API parser).
        skipped: ``skipped(stream, nbytes)`` when bytes were left out (their partial state is void).
    """

    def __init__(self, feed: Callable[[str, list[tuple[str, bool, bool]]], None], end: Callable[[str], object],
                 skipped: Callable[[str, int], None], max_line_bytes: int = MAX_LINE_BYTES,
                 max_backlog: int = MAX_BACKLOG, eof_backlog: int = EOF_BACKLOG) -> None:
        self._feed, self._end, self._skipped = feed, end, skipped
        self.max_line_bytes = max_line_bytes
        self.max_backlog = max_backlog
        self.eof_backlog = eof_backlog
        self._cond = threading.Condition()
        self._chunks: deque[tuple[str, bytes | None]] = deque()
        self._bytes = 0
        self._gaps: dict[str, int] = {}
        self._cut_mid_line: dict[str, bool] = {}
        """Per stream: the last bytes left out ended inside a line (the next bytes begin with its rest)."""
        self._open: set[str] = set()
        self._busy = False
        self._closed = False
        self._splitters: dict[str, LineSplitter] = {}
        self.before_chunk: Callable[[], None] = lambda: None
        """Called before each chunk is parsed (the engine's :class:`~tui.engine.input_first.InputFirst`
        gate: a key being answered pauses parsing, never the readers)."""
        self._thread = threading.Thread(target=self._run, name="line-pump", daemon=True)
        self._thread.start()

    # ---- reader side (never blocks on parsing) -------------------------------------------------
    def open(self, stream: str) -> None:
        with self._cond:
            self._open.add(stream)
            self._splitters[stream] = LineSplitter(self.max_line_bytes)

    def push(self, stream: str, data: bytes) -> None:
        with self._cond:
            if len(data) <= TAKE_BYTES:
                self._chunks.append((stream, data))
            else:  # one big read (the reader waited its turn): parsed a slice per turn
                self._chunks.extend((stream, data[i:i + TAKE_BYTES]) for i in range(0, len(data), TAKE_BYTES))
            self._bytes += len(data)
            if self._bytes > self.max_backlog:
                self._trim(self.max_backlog)
            self._cond.notify()

    def close_stream(self, stream: str) -> None:
        """End of ``stream``: parse only the newest :data:`EOF_BACKLOG` bytes still waiting."""
        with self._cond:
            self._chunks.append((stream, None))
            if self._bytes > self.eof_backlog:
                self._trim(self.eof_backlog)
            self._cond.notify()

    def _trim(self, limit: int) -> None:
        """Drop the oldest data chunks (never an end-of-stream mark) until ``limit`` (lock held)."""
        kept: deque[tuple[str, bytes | None]] = deque()
        chunks = self._chunks
        while chunks and self._bytes > limit:
            stream, data = chunks.popleft()
            if data is None:
                kept.append((stream, data))
                continue
            self._bytes -= len(data)
            self._gaps[stream] = self._gaps.get(stream, 0) + len(data)
            self._cut_mid_line[stream] = not data.endswith((b"\n", b"\r"))
        kept.extend(chunks)
        self._chunks = kept

    # ---- waiting ------------------------------------------------------------------------------
    def wait_done(self, timeout: float) -> bool:
        """Wait (bounded) until every opened stream has ended and was parsed to its end."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._open and not self._chunks and not self._busy, timeout)

    def wait_idle(self, timeout: float) -> bool:
        """Wait (bounded) until everything pushed so far is parsed."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._chunks and not self._busy, timeout)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # ---- the thread ---------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            self.before_chunk()
            with self._cond:
                while not self._chunks and not self._closed:
                    self._cond.wait()
                if self._closed and not self._chunks:
                    return
                chunks, taken = [], 0
                while self._chunks and taken < TAKE_BYTES:
                    stream, data = self._chunks.popleft()
                    chunks.append((stream, data))
                    taken += len(data) if data is not None else 0
                self._bytes -= taken
                gaps, self._gaps = self._gaps, {}
                cuts, self._cut_mid_line = self._cut_mid_line, {}
                self._busy = True
            try:
                self._process(chunks, gaps, cuts)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _process(self, chunks: list[tuple[str, bytes | None]], gaps: dict[str, int],
                 cuts: dict[str, bool]) -> None:
        for stream, nbytes in gaps.items():
            splitter = self._splitters.get(stream)
            if splitter is not None:
                splitter.resync(cuts.get(stream, False))  # a line cut by the gap is not a line
            self._guard(self._skipped, stream, nbytes)
        i = 0
        while i < len(chunks):
            stream, data = chunks[i]
            if data is None:
                self._finish(stream)
                i += 1
                continue
            parts = [data]
            i += 1
            while i < len(chunks) and chunks[i][0] == stream and chunks[i][1] is not None:
                parts.append(chunks[i][1])  # type: ignore[arg-type]  # the loop test ruled out None
                i += 1
            splitter = self._splitters.get(stream)
            if splitter is None:
                splitter = self._splitters[stream] = LineSplitter(self.max_line_bytes)
            lines = splitter.feed(b"".join(parts) if len(parts) > 1 else parts[0])
            if lines:
                self._guard(self._feed, stream, lines)

    def _finish(self, stream: str) -> None:
        splitter = self._splitters.pop(stream, None)
        tail = splitter.flush() if splitter is not None else []
        if tail:
            self._guard(self._feed, stream, tail)
        self._guard(self._end, stream)
        with self._cond:
            self._open.discard(stream)

    def _guard(self, fn: Callable[..., object], *args: object) -> None:
        """A parser surprise must never stop the pump (the views would freeze; the exit would hang)."""
        try:
            fn(*args)
        except Exception as exc:  # noqa: BLE001 - reported through the router by the owner
            self.last_error = exc
            self.errors += 1

    last_error: Exception | None = None
    errors = 0

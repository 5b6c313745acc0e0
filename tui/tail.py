"""Follow log files into the router: truncation, rotation, late files, ``%i`` per-pid files.

Strategy: event-driven.  One thread waits on inotify (``watchfiles``) for the directories of
the followed files; a change wakes it within a few milliseconds and it reads what is new
(``os.stat`` + read to EOF: the facts that matter, inode changed = rotated, size shrank =
truncated, file appeared, come from ``stat`` anyway).  Under a flood of writes the events are
coalesced for at most ``debounce_ms``.  Every ``interval`` seconds without events it also
reads everything once, so filesystems where inotify misses writes (NFS, some bind mounts) and
directories that do not exist yet still work, only slower.  Tests step it deterministically
with :meth:`Tailer.poll_once`.

Rules:
    * a missing file is "not yet": followed from its first byte once it appears;
    * files present when :meth:`Tailer.add` is called start at their end (``from_start=None``),
      so an append-mode log of earlier runs (``performance.log``) does not replay;
    * size below the read offset = truncated: read again from 0;
    * a different inode (or device) at the path = rotated: the old handle is read to EOF,
      then the new file is followed from 0;
    * lines longer than ``max_line_bytes`` are cut and marked truncated, the rest skipped up
      to the next newline; invalid UTF-8 becomes U+FFFD; an unterminated last line waits
      until it is terminated (or the tailer stops);
    * ``%i`` in a pattern matches any pid; a file is followed when its pid is in ``pids()``
      (the supervisor's known pids of the tree), when no ``pids`` callable is given, or when it
      appeared after :meth:`Tailer.add` and its pid is already gone (a worker too short-lived for
      the supervisor's 0.5 s tree samples); a live process outside the tree is never followed.

Each file's lines go to the router as stream ``file:<path>``.  Imports neither textual nor rich.
"""

from __future__ import annotations

import glob
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO

import psutil
from watchfiles.main import RustNotify  # watchfiles' engine: see Tailer._watch

from tui.lines import MAX_LINE_BYTES, LineSplitter
from tui.router import Router, file_stream

TRUNCATION_PROBE = 64
"""Bytes before the read offset compared on each read, to see a truncate-and-rewrite."""
READ_CHUNK = 256 * 1024
"""Most bytes read from one file per tick, so one busy file cannot starve the others."""


class FileFollower:
    """Follows one path; :meth:`poll` returns the new complete lines (``(text, truncated, cr)``).

    Args:
        path: the file; it may not exist yet.
        from_start: True: read existing content; False: start at the end (of the file as it is now,
            or as it is when it appears); None: an existing file from its current end, a file that
            appears later from its start.
        max_line_bytes: line cap.
    """

    def __init__(self, path: str, from_start: bool | None = None, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.path = path
        self.max_line_bytes = max_line_bytes
        self._fh: IO[bytes] | None = None
        self._ident: tuple[int, int] | None = None
        self._offset = 0
        self._seen = b""
        self._splitter = LineSplitter(max_line_bytes, split_cr=False)
        self.rotations = 0
        self.truncations = 0
        self._start_at_end = from_start is False
        self._start_mark: tuple[int, int, int] | None = None
        """(dev, inode, size) when following starts at the end of an existing file: lines appended
        between construction and the first poll are not lost."""
        if not from_start:
            try:
                st = os.stat(path)
                self._start_mark = (st.st_dev, st.st_ino, st.st_size)
            except OSError:
                pass

    @classmethod
    def at_mark(cls, path: str, mark: tuple[int, int, int] | None, max_line_bytes: int = MAX_LINE_BYTES
                ) -> FileFollower:
        """Follow ``path`` from ``mark`` (dev, inode, size recorded earlier) if it is still the same
        file, else from its start."""
        f = cls(path, from_start=True, max_line_bytes=max_line_bytes)
        f._start_mark = mark
        return f

    def _open(self, at_end: bool) -> bool:
        try:
            fh = open(self.path, "rb")  # noqa: SIM115 - held across polls
        except OSError:
            return False
        st = os.fstat(fh.fileno())
        self._fh = fh
        self._ident = (st.st_dev, st.st_ino)
        mark, self._start_mark = self._start_mark, None
        if mark is not None and mark[:2] == self._ident and mark[2] <= st.st_size:
            self._offset = mark[2]
        else:
            self._offset = st.st_size if at_end and mark is None else 0
        fh.seek(self._offset)
        self._seen = b""
        self._splitter = LineSplitter(self.max_line_bytes, split_cr=False)
        return True

    def _read_available(self, out: list[tuple[str, bool, bool]], budget: int = READ_CHUNK * 4) -> None:
        assert self._fh is not None
        while budget > 0:
            try:
                data = self._fh.read(min(READ_CHUNK, budget))
            except OSError:
                return
            if not data:
                return
            self._offset += len(data)
            budget -= len(data)
            self._seen = (self._seen + data)[-TRUNCATION_PROBE:]
            out += self._splitter.feed(data)

    def poll(self) -> list[tuple[str, bool, bool]]:
        out: list[tuple[str, bool, bool]] = []
        if self._fh is None:
            if not self._open(at_end=self._start_at_end):
                return out
            self._start_at_end = False
        try:
            st = os.stat(self.path)
        except OSError:
            st = None
        if st is not None and (st.st_dev, st.st_ino) != self._ident:
            # Rotated (or deleted and re-created): finish the old file, then follow the new one.
            self._read_available(out, budget=1 << 30)
            out += self._splitter.flush()
            self.close()
            self.rotations += 1
            if self._open(at_end=False):
                self._read_available(out)
            return out
        if st is not None and (st.st_size < self._offset or self._rewritten()):
            self.truncations += 1
            out += self._splitter.flush()
            self._splitter = LineSplitter(self.max_line_bytes, split_cr=False)
            assert self._fh is not None
            self._fh.seek(0)
            self._offset = 0
            self._seen = b""
        self._read_available(out)
        return out

    def _rewritten(self) -> bool:
        """The bytes just before the read offset are not those we read: the file was truncated and
        written past our offset again before we looked (size alone cannot tell)."""
        if not self._seen or self._fh is None:
            return False
        try:
            return os.pread(self._fh.fileno(), len(self._seen), self._offset - len(self._seen)) != self._seen
        except OSError:
            return False

    def flush(self) -> list[tuple[str, bool, bool]]:
        """Read what is left and return the unterminated last line too."""
        out = self.poll() if self._fh is not None else []
        return out + self._splitter.flush()

    def close(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
        self._fh = None
        self._ident = None


@dataclass
class _Pattern:
    pattern: str
    stream: str | None
    from_start: bool | None
    regex: re.Pattern[str] | None
    glob: str
    added_at: float
    preexisting: dict[str, tuple[int, int, int]]



def _mark(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size


def expand_pid_pattern(pattern: str) -> tuple[str, re.Pattern[str]]:
    """``/logs/k_%i.log`` -> glob ``/logs/k_*.log`` and a regex capturing the pid(s)."""
    parts = pattern.split("%i")
    regex = r"(\d+)".join(re.escape(p) for p in parts)
    return "*".join(glob.escape(p) for p in parts), re.compile(f"^{regex}$")


class Tailer:
    """Follows any number of files/patterns in one thread, feeding ``router``.

    Args:
        router: destination; each file is the stream ``file:<path>``.
        interval: seconds between full reads when no event came (missed events, missing directories).
        glob_interval: seconds between re-expansions of ``%i`` patterns when no event names a new file.
        debounce_ms: longest a flood of change events is coalesced before the files are read.
        pids: callable returning the pids whose ``%i`` files to follow (e.g.
            ``supervisor.known_pids``); None follows every match.
        max_line_bytes: line cap.
    """

    def __init__(
        self,
        router: Router,
        interval: float = 0.25,
        glob_interval: float = 0.5,
        pids: Callable[[], Iterable[int]] | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        debounce_ms: int = 30,
        before_read: Callable[[], None] | None = None,
    ) -> None:
        self.router = router
        self.interval = interval
        self.debounce_ms = debounce_ms
        self.glob_interval = glob_interval
        self.pids = pids
        self.max_line_bytes = max_line_bytes
        self.before_read = before_read or (lambda: None)
        self._lock = threading.Lock()
        self._patterns: dict[str, _Pattern] = {}
        self._files: dict[str, tuple[FileFollower, str]] = {}
        self._next_glob = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.watching = threading.Event()
        """Set once file events are watched (before the first read): later writes are never missed."""

    def add(self, pattern: str, stream: str | None = None, from_start: bool | None = None) -> None:
        """Follow ``pattern`` (a path, ``%i`` allowed; ``~`` expanded).

        Args:
            stream: stream name for the router (default ``file:<path>`` of each file).
            from_start: True reads existing content, False starts at the end, None (default):
                files existing now start at their end, files appearing later from their start.
        """
        pattern = os.path.expanduser(pattern)
        with self._lock:
            if "%i" in pattern:
                g, rx = expand_pid_pattern(pattern)
                pre = {p: m for p in glob.glob(g) if (m := _mark(p)) is not None} if from_start is None else {}
                self._patterns[pattern] = _Pattern(pattern, stream, from_start, rx, g, time.time(), pre)
                self._next_glob = 0.0
            elif pattern not in self._files:
                self._files[pattern] = (FileFollower(pattern, from_start, self.max_line_bytes),
                                        stream or file_stream(pattern))

    def followed(self) -> list[str]:
        """Paths currently followed (including ones not created yet)."""
        with self._lock:
            return sorted(self._files)

    def _expand(self) -> None:
        allowed = None if self.pids is None else set(self.pids())
        for pat in list(self._patterns.values()):
            assert pat.regex is not None
            for path in glob.glob(pat.glob):
                if path in self._files:
                    continue
                m = pat.regex.match(path)
                if not m:
                    continue
                if allowed is not None and int(m.group(1)) not in allowed:
                    # A worker that lived less than one tree sample is never "known": accept a file
                    # that appeared after add() when its pid is gone (a live stranger's is refused).
                    if path in pat.preexisting or psutil.pid_exists(int(m.group(1))):
                        continue
                if pat.from_start is None:
                    # A file named after a pid of this run is this run's, even if it existed at add().
                    ours = allowed is not None and int(m.group(1)) in allowed
                    mark = None if ours else pat.preexisting.get(path)
                    follower = FileFollower.at_mark(path, mark, self.max_line_bytes)
                else:
                    follower = FileFollower(path, pat.from_start, self.max_line_bytes)
                self._files[path] = (follower, pat.stream or file_stream(path))

    def poll_once(self) -> int:
        """One pass over every file; returns the number of lines fed.  Used by the thread and tests."""
        now = time.monotonic()
        with self._lock:
            if self._patterns and now >= self._next_glob:
                self._expand()
                self._next_glob = now + self.glob_interval
            files = list(self._files.values())
        count = 0
        for follower, stream in files:
            self.before_read()
            lines = follower.poll()
            if lines:
                self.router.feed(stream, lines)
                count += len(lines)
        return count

    def _directories(self) -> tuple[frozenset[str], bool]:
        """Existing directories of the followed files and patterns; True when one is missing."""
        with self._lock:
            paths = [*self._files, *self._patterns]
        found, missing = set(), False
        for path in paths:
            directory = os.path.dirname(path) or "."
            if os.path.isdir(directory):
                found.add(directory)
            else:
                missing = True
        return frozenset(found), missing

    def _poll_safely(self, changed: Iterable[str] = ()) -> None:
        with self._lock:
            if any(path not in self._files for path in changed):
                self._next_glob = 0.0  # a new file named by an event: match the %i patterns now
        try:
            self.poll_once()
        except Exception as exc:  # keep following the other files
            self.router.feed_line("console", f"[tail] error: {type(exc).__name__}: {exc}")

    def _loop(self) -> None:
        while not self._stop.is_set():
            dirs, missing = self._directories()
            if not dirs:
                self._poll_safely()
                self._stop.wait(self.interval)
                continue
            try:
                self._watch(dirs, missing)
            except (OSError, RuntimeError) as exc:  # a watched directory vanished, inotify limits...
                self.router.feed_line("console", f"[tail] watching stopped ({exc}); reading every {self.interval} s")
                self._poll_safely()
                self._stop.wait(self.interval)

    def _watch(self, dirs: frozenset[str], missing: bool) -> None:
        """Watch ``dirs`` until the set of existing directories changes (or stop).

        ``RustNotify`` (watchfiles' own engine, what ``watchfiles.watch`` wraps) is used directly
        so the watch is in place *before* the files are read once: nothing written in between is
        missed, and :attr:`watching` can tell tests and benchmarks when the tailer is live."""
        with RustNotify(sorted(dirs), False, False, 300, False, False) as notify:
            self.watching.set()
            self._poll_safely()
            while not self._stop.is_set():
                changes = notify.watch(self.debounce_ms, 2, int(self.interval * 1000), self._stop)
                if changes == "stop":
                    return
                if isinstance(changes, set):
                    self._poll_safely(path for _change, path in changes)
                else:  # timeout: read everything once (missed events), look for new directories
                    self._poll_safely()
                    now, now_missing = self._directories()
                    if now != dirs:
                        return
                    missing = now_missing
                if missing:
                    now, missing = self._directories()
                    if now != dirs:
                        return

    def start(self) -> None:
        """Start the polling thread (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self.watching.clear()
        self._thread = threading.Thread(target=self._loop, name="tailer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0, flush: bool = True) -> None:
        """Stop the thread (bounded wait); with ``flush`` read the files one last time, including
        unterminated last lines, and end each stream (its kernel API parser is flushed)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            if self._patterns:
                self._expand()
            files = list(self._files.values())
        for follower, stream in files:
            if flush:
                lines = follower.flush()
                if lines:
                    self.router.feed(stream, lines)
                self.router.end_stream(stream)
            follower.close()

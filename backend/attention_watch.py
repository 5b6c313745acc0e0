"""The one watch of the attention config file, for the backend (which applies it) and the console (which shows it).

Why the directory: editors save by writing a temp file and renaming it over the target; a watch on
the file itself goes blind after the first such save (stack notes).  The parent directory is watched
with watchfiles at ``debounce=50, step=10`` (about 15 ms latency) and only changes whose file name is
the config's are kept.  A missing file or directory is "not yet": the watch waits for it.

Every batch of changes (and every quiet ``RUST_TIMEOUT_MS``) re-reads the file *as it is now*; a new
content produces one :class:`ReloadEvent` (parse and schema check by :mod:`backend.attention_config`,
from the very bytes read).  A read whose content
equals the previous read produces nothing, so an in-place rewrite of the same size within one
timestamp tick is still seen (content, not stat, is compared).

What "none missed" means (the guarantee the tests check): watchfiles coalesces changes that arrive
within one debounce window into one batch, and the file is read after the batch, so (1) the value
observed after a batch is the file's content at that moment or later: the observed sequence is never
stale or reordered (``seq`` orders reads, even from two threads); (2) the last save is always
observed; (3) a save followed by a quiet gap longer than debounce plus latency is always observed
individually.  Saves closer together may be coalesced into the latest one.

On any error the last good config is kept (``ReloadEvent.config``) and the error and its line are
reported.  Torch-free and textual-free; watchfiles is imported when a watch starts.
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from backend.attention_config import AttentionConfigError, diff_configs, parse_attention_config

DEBOUNCE_MS = 50
STEP_MS = 10
RUST_TIMEOUT_MS = 200
"""How often a quiet watch wakes: to see its stop event (:meth:`ConfigWatcher.stop` ends it within this),
and to re-read the file, which covers a save made before the OS watch was in place and any event the
OS dropped (a few hundred bytes read five times a second)."""
MAX_CONFIG_BYTES = 1 << 20
"""A bigger file is refused unread (an attention config is a few lines)."""


@dataclass(frozen=True)
class ReloadEvent:
    """The outcome of one (re)load."""

    time: float
    """``time.time()`` of the reload."""
    path: str
    ok: bool
    config: dict[str, Any] | None
    """The config now in force: the new one when ``ok``, else the last good one (None if never good)."""
    diff_lines: tuple[str, ...] = ()
    """Against the previous good config (``+ k=v``, ``- k=v``, ``~ k: a -> b``); empty on error."""
    error: str | None = None
    line: int | None = None
    """1-based line of the error when known."""
    missing: bool = False
    """No file to read there (deleted, not yet created, or a directory in its place): "not yet"."""
    initial: bool = False
    """The first load, not a change."""
    backend: str | None = None
    seq: int = 0
    """1, 2, ... per watcher, in the order the file was read."""


def read_config_file(path: str) -> tuple[bytes | None, str | None, bool]:
    """(content, problem, missing): content None when there is nothing to parse, with the reason."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None, "is not a regular file", True
            if st.st_size > MAX_CONFIG_BYTES:
                return None, f"is over {MAX_CONFIG_BYTES} bytes", False
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except IsADirectoryError:
        return None, "is a directory, not a file", True
    except FileNotFoundError:
        return None, "file does not exist", True
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})", False
    if len(data) > MAX_CONFIG_BYTES:
        return None, f"is over {MAX_CONFIG_BYTES} bytes", False
    return data, None, False


class ConfigWatcher:
    """Watches one attention config file; thread-safe (a watch thread and a caller may both re-read).

    Args:
        path: the config file (``~`` expanded).
        backend: the selected attention backend (None = auto) whose schema validates it.
        last_good: the config already in force, if any: the first diff is taken against it.
        debounce_ms, step_ms: watchfiles settings.
        stop_event: set it to end :meth:`watch` / :meth:`awatch` (one is created when omitted;
            see :meth:`stop`).
    """

    def __init__(self, path: str, backend: str | None = None, *, last_good: dict[str, Any] | None = None,
                 debounce_ms: int = DEBOUNCE_MS, step_ms: int = STEP_MS,
                 stop_event: threading.Event | None = None) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.directory = os.path.dirname(self.path)
        self.name = os.path.basename(self.path)
        self.backend = backend
        self.debounce_ms = debounce_ms
        self.step_ms = step_ms
        self.stop_event = stop_event or threading.Event()
        self.last_good: dict[str, Any] | None = dict(last_good) if last_good is not None else None
        self.last_event: ReloadEvent | None = None
        self._last_read: tuple[bytes | None, str | None] | None = None
        self._seq = 0
        self._lock = threading.Lock()

    # ---- one reload ------------------------------------------------------------------------

    def load(self) -> ReloadEvent:
        """Initial load (always returns an event)."""
        with self._lock:
            return self._record(*read_config_file(self.path), initial=True)

    def reload(self) -> ReloadEvent:
        """Re-read and re-validate now, changed or not (an operator's explicit reload)."""
        with self._lock:
            return self._record(*read_config_file(self.path), initial=False)

    def check(self) -> ReloadEvent | None:
        """Re-read now; an event if the content changed since the last read, else None."""
        with self._lock:
            data, problem, missing = read_config_file(self.path)
            if (data, problem) == self._last_read:
                return None
            return self._record(data, problem, missing, initial=False)

    def _record(self, data: bytes | None, problem: str | None, missing: bool, initial: bool) -> ReloadEvent:
        """Parse what was read, number it and remember it (called under the lock)."""
        self._last_read = (data, problem)
        self._seq += 1
        event = self._parse(data, problem, missing, initial)
        self.last_event = event
        return event

    def _parse(self, data: bytes | None, problem: str | None, missing: bool, initial: bool) -> ReloadEvent:
        common: dict[str, Any] = {"initial": initial, "backend": self.backend, "seq": self._seq}
        now = time.time()
        if data is None:
            return ReloadEvent(now, self.path, False, self.last_good, error=problem, missing=missing, **common)
        try:
            config = parse_attention_config(data, self.path, self.backend)
        except AttentionConfigError as exc:
            return ReloadEvent(now, self.path, False, self.last_good, error=str(exc), line=exc.line, **common)
        diff = tuple(diff_configs(self.last_good or {}, config))
        self.last_good = config
        return ReloadEvent(now, self.path, True, config, diff, **common)

    # ---- watching --------------------------------------------------------------------------

    def _ours(self, change: object, path: str) -> bool:
        """watchfiles' filter: only the config's own name (the directory holds other files)."""
        return os.path.basename(path) == self.name

    def _watch_args(self) -> dict[str, Any]:
        return {"watch_filter": self._ours, "debounce": self.debounce_ms, "step": self.step_ms,
                "stop_event": self.stop_event, "rust_timeout": RUST_TIMEOUT_MS, "yield_on_timeout": True,
                "recursive": False}

    def watch(self, initial: bool = True) -> Iterator[ReloadEvent]:
        """Blocking iterator for a thread: the initial load (when ``initial``), then one event per
        effective change, until :meth:`stop` (noticed within ``RUST_TIMEOUT_MS``)."""
        from watchfiles import watch

        if initial:
            yield self.load()
        while not os.path.isdir(self.directory):  # "not yet": wait (bounded steps) for the directory
            if self.stop_event.wait(0.5):
                return
            if os.path.isdir(self.directory) and (event := self.check()) is not None:
                yield event  # written while we waited
        for _changes in watch(self.directory, raise_interrupt=False, **self._watch_args()):
            if self.stop_event.is_set():
                return
            if (event := self.check()) is not None:
                yield event

    async def awatch(self, initial: bool = True) -> AsyncIterator[ReloadEvent]:
        """Async generator for a Textual worker (``@work(exclusive=True, group="config-watch")``)."""
        import anyio
        from watchfiles import awatch

        if initial:
            yield self.load()
        while not os.path.isdir(self.directory):
            if self.stop_event.is_set():
                return
            await anyio.sleep(0.5)
            if os.path.isdir(self.directory) and (event := self.check()) is not None:
                yield event
        async for _changes in awatch(self.directory, **self._watch_args()):
            if self.stop_event.is_set():
                return
            if (event := self.check()) is not None:
                yield event

    def stop(self) -> None:
        """End :meth:`watch` / :meth:`awatch` within about ``RUST_TIMEOUT_MS``."""
        self.stop_event.set()


def watch_in_thread(watcher: ConfigWatcher, callback: Callable[[ReloadEvent], object], *, initial: bool = True,
                    on_error: Callable[[Exception], object] | None = None) -> threading.Thread:
    """Run ``watcher.watch()`` in a daemon thread, calling ``callback(event)`` for each event.

    A failure of the watch itself (inotify limits, a vanished mount) goes to ``on_error`` instead of
    killing the thread silently; without ``on_error`` it propagates (the thread's excepthook).
    """

    def run() -> None:
        try:
            for event in watcher.watch(initial=initial):
                callback(event)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(exc)

    thread = threading.Thread(target=run, name="attention-config-watch", daemon=True)
    thread.start()
    return thread

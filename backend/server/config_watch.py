"""Hot reload of the attention config file for ``serve``.

A thread watches the file's *directory* with watchfiles and filters by name (editors save by writing
a temporary file and renaming it over the original, which a watch on the file itself would lose).
Each change is re-parsed and validated at once, and the diff is logged; the new config is only
*applied* by :meth:`ConfigWatcher.apply_pending`, which serve calls before each request, so a request
never sees its attention change half-way.  ``apply_pending`` also re-checks the file's identity
(inode, mtime, size), so an edit made just before a request is applied to it even if the watcher has
not woken up yet.  A broken file keeps the last good config and logs the error with its line; a
missing file (or a directory in its place) means "not yet" (kept config, one warning).

The identity includes a hash of the content, and the config is parsed from the very bytes that were
hashed: an in-place rewrite of the same size within one timestamp tick (coarse on most file systems)
is still seen, and a read that raced a half-written file is never mistaken for the finished one.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from typing import Any

from backend.attention_config import AttentionConfigError, diff_configs, parse_attention_config
from backend.logging_setup import get_logger
from backend.pipeline.attention import AttentionState

log = get_logger("attention")
MAX_CONFIG_BYTES = 1 << 20
"""A bigger file is refused unread (an attention config is a few lines)."""
Signature = tuple[int, int, str] | None


def _snapshot(path: str) -> tuple[Signature, bytes | None, str | None]:
    """(identity, content, problem): identity None when there is no regular file to read."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                return None, None, "is not a regular file"
            if st.st_size > MAX_CONFIG_BYTES:
                return (st.st_ino, st.st_size, "too-big"), None, f"is over {MAX_CONFIG_BYTES} bytes"
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except IsADirectoryError:
        return None, None, "is a directory"
    except FileNotFoundError:
        return None, None, "is gone"
    except OSError as exc:
        return None, None, f"cannot be read ({exc.strerror or exc})"
    return (st.st_ino, len(data), hashlib.sha256(data).hexdigest()), data, None


def _signature(path: str) -> Signature:
    return _snapshot(path)[0]


class ConfigWatcher:
    """Watches one attention config file and stages valid changes for the next request."""

    def __init__(self, path: str, state: AttentionState) -> None:
        self.path = os.path.abspath(os.path.expanduser(path))
        self.state = state
        self._lock = threading.Lock()
        self._signature = _signature(self.path)
        self._pending: dict[str, Any] | None = None
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="attention-config-watch", daemon=True)
        self._thread.start()
        log.info("Watching attention config %s for changes", self.path)

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _watch(self) -> None:
        import watchfiles

        directory, name = os.path.split(self.path)

        def only_ours(change: Any, path: str) -> bool:
            return os.path.basename(path) == name

        try:
            for _changes in watchfiles.watch(directory, watch_filter=only_ours, stop_event=self._stop,
                                             debounce=150, step=50, rust_timeout=500, yield_on_timeout=False,
                                             raise_interrupt=False):
                self.poll()
        except Exception as exc:  # noqa: BLE001 - watching is best effort; apply_pending still polls
            log.warning("Attention config watcher stopped (%s: %s); changes are still picked up before "
                        "each request", type(exc).__name__, exc)

    def poll(self, force: bool = False) -> list[str] | None:
        """Re-read the file if it changed (or ``force``); returns the staged diff, or None if nothing was staged."""
        with self._lock:
            sig, data, problem = _snapshot(self.path)
            if sig == self._signature and not force:
                return None
            self._signature = sig
            try:
                if data is None:
                    if sig is None:
                        log.warning("Attention config %s %s; keeping the last good config", self.path, problem)
                        return None
                    raise AttentionConfigError(f"{self.path} {problem}", path=self.path)
                new = parse_attention_config(data, self.path, self.state.requested)
            except AttentionConfigError as exc:
                if force and self.last_error == str(exc):
                    return None  # already reported for this very file content
                self.last_error = str(exc)
                log.error("Attention config %s rejected, keeping the last good config: %s", self.path, exc)
                return None
            self.last_error = None
            base = self._pending if self._pending is not None else self.state.config
            changes = diff_configs(base, new)
            self._pending = new
            if changes:
                log.info("Attention config %s changed (applies from the next request): %s", self.path,
                         "; ".join(changes))
            else:
                log.info("Attention config %s saved with no change", self.path)
            return changes

    def apply_pending(self, force: bool = False) -> list[str]:
        """Swap in the staged config (after a last poll); returns what changed against the config in force."""
        self.poll(force)
        with self._lock:
            if self._pending is None:
                return []
            changes = self.state.replace_config(self._pending, self.path)
            self._pending = None
        if changes:
            log.info("Applied attention config: %s", "; ".join(changes))
        return changes

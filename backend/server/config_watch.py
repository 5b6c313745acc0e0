"""Hot reload of the attention config file for ``serve``: changes are staged, and applied between requests.

The file is watched by the shared :class:`backend.attention_watch.ConfigWatcher` (the console shows
the same events).  Each valid change is staged and its diff logged; the staged config is only
*applied* by :meth:`AttentionConfigStage.apply_pending`, which serve calls before each request, so a
request never sees its attention change half-way.  ``apply_pending`` re-reads the file first, so an
edit made just before a request applies to it even if the watch thread has not woken up yet.  A
broken file keeps the last good config and logs the error with its line; a missing file (or a
directory in its place) means "not yet" (kept config, one warning).
"""

from __future__ import annotations

import threading
from typing import Any

from backend.attention_watch import ConfigWatcher, ReloadEvent, watch_in_thread
from backend.exit_codes import ExitCode
from backend.logging_setup import get_logger
from backend.pipeline.attention import AttentionState, state
from backend.server.answers import error_answer

log = get_logger("attention")


class AttentionConfigStage:
    """Stages the watched file's valid changes for the next request and applies them to ``state``."""

    def __init__(self, path: str, state: AttentionState) -> None:
        self.state = state
        self.watcher = ConfigWatcher(path, state.requested, last_good=state.config)
        self.path = self.watcher.path
        self.last_error: str | None = None
        self._pending: dict[str, Any] | None = None
        self._handled_seq = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        initial = self.watcher.load()  # the file as serve loaded it: only a difference is staged
        if not initial.ok or initial.diff_lines:
            self._handle(initial)

    def start(self) -> None:
        self._thread = watch_in_thread(self.watcher, self._handle, initial=False, on_error=self._watch_failed)
        log.info("Watching attention config %s for changes", self.path)

    def stop(self, timeout: float = 2.0) -> None:
        self.watcher.stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def _watch_failed(self, exc: Exception) -> None:
        log.warning("Attention config watcher stopped (%s: %s); changes are still picked up before each request",
                    type(exc).__name__, exc)

    def _handle(self, event: ReloadEvent, forced: bool = False) -> list[str] | None:
        """Stage or report one event; returns the staged diff, or None when nothing was staged.

        An event older than one already handled is dropped: the watch thread and a request both read.
        """
        with self._lock:
            if event.seq <= self._handled_seq:
                return None
            self._handled_seq = event.seq
            if event.missing:
                log.warning("Attention config %s: %s; keeping the last good config", self.path, event.error)
                return None
            if not event.ok:
                if not (forced and self.last_error == event.error):  # a forced re-read of a reported error
                    log.error("Attention config %s rejected, keeping the last good config: %s", self.path,
                              event.error)
                self.last_error = event.error
                return None
            self.last_error = None
            self._pending = event.config
            if event.diff_lines:
                log.info("Attention config %s changed (applies from the next request): %s", self.path,
                         "; ".join(event.diff_lines))
            else:
                log.info("Attention config %s saved with no change", self.path)
            return list(event.diff_lines)

    def poll(self, force: bool = False) -> list[str] | None:
        """Re-read the file now (if it changed, or always when ``force``); returns the staged diff, if any."""
        event = self.watcher.reload() if force else self.watcher.check()
        return None if event is None else self._handle(event, forced=force)

    def apply_pending(self, force: bool = False) -> list[str]:
        """Swap in the staged config (after a last re-read); returns what changed against the config in force."""
        self.poll(force)
        with self._lock:
            if self._pending is None:
                return []
            changes = self.state.replace_config(self._pending, self.path)
            self._pending = None
        if changes:
            log.info("Applied attention config: %s", "; ".join(changes))
        return changes


def watch_loaded_config() -> AttentionConfigStage | None:
    """Watch the file this process's attention config came from (None when it came from no file)."""
    st = state()
    path = st.source if st.source and st.source != "--attention-backend-config" else None
    if not path:
        return None
    stage = AttentionConfigStage(path, st)
    stage.start()
    return stage


def reload_answer(stage: AttentionConfigStage | None) -> tuple[int, dict[str, Any]]:
    """``POST /dev/reload-attention-config`` in the process that holds the model: re-read the file
    and apply it now (the caller runs between requests); 400 keeps the last good config."""
    if stage is None:
        return error_answer(409, "no attention config file to reload (set SGLANG_DIFFUSION_ATTENTION_CONFIG or pass "
                            "a file to --attention-backend-config)", ExitCode.BAD_ATTENTION_CONFIG)
    changes = stage.apply_pending(force=True)
    if stage.last_error:
        status, body = error_answer(400, stage.last_error, ExitCode.BAD_ATTENTION_CONFIG)
        return status, {**body, "attention": state().describe()}
    return 200, {"changes": changes, "attention": state().describe()}

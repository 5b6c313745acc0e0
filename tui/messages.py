"""Messages shared by several widgets and screens.

A widget's own events nest inside its class (``VarField.Changed``); only messages that
cross rooms live here.  High-rate ones define ``can_replace`` so a busy queue keeps
the newest instead of replaying every stale one (toolong's habit).
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class SessionChanged(Message):
    """The session's values changed (a field, a load, a reset); views re-read it."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name
        """The variable that changed, or None when many did (load, save as)."""


class RunRequested(Message):
    """Start (or restart) the backend with the run bar's request."""

    def __init__(self, restart: bool = False, kernel_level: int | None = None) -> None:
        super().__init__()
        self.restart = restart
        self.kernel_level = kernel_level
        """When set, re-run with SGLANG_KERNEL_API_LOGLEVEL raised to this level."""


class StopRequested(Message):
    """Stop the running backend (SIGINT, SIGTERM, SIGKILL escalation)."""


class RunStateChanged(Message):
    """The supervisor's visible state changed: ``idle``, ``running``, ``stopping: SIGTERM`` ..."""

    def __init__(self, state: str, detail: str = "") -> None:
        super().__init__()
        self.state = state
        self.detail = detail

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunStateChanged)


class ProcessSampled(Message):
    """A fresh process-tree snapshot (once a second); only the newest matters."""

    def __init__(self, snapshot: Any) -> None:
        super().__init__()
        self.snapshot = snapshot

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ProcessSampled)


class ConfigReloaded(Message):
    """The attention config file was saved and re-validated (a ``tui.watch`` reload event)."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class ChildExited(Message):
    """The backend process ended; ``abnormal`` opens the crash report."""

    def __init__(self, exit_info: Any, abnormal: bool) -> None:
        super().__init__()
        self.exit_info = exit_info
        self.abnormal = abnormal

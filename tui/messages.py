"""Messages shared by several widgets and screens.

A widget's own events nest inside its class (``VarField.Changed``); only messages that
cross rooms live here.  High-rate ones define ``can_replace`` so a busy queue keeps
the newest instead of replaying every stale one (toolong's habit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from tui.engine.events import EngineEvent


class SessionChanged(Message):
    """The session's values changed (a field, a load, a reset); views re-read it."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__()
        self.name = name
        """The variable that changed, or None when many did (load, save as)."""


class RunEvent(Message):
    """One event of the run engine (``tui.engine``), posted from the engine's threads.

    Batches (lines, kernel API calls, timings) are never replaced: the engine already coalesces
    them and waits for the app's acknowledgement.  Snapshots (process tree, stop countdown) are:
    only the newest pending one of a kind is handled.
    """

    def __init__(self, event: EngineEvent) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        from tui.engine.events import SNAPSHOTS

        return (isinstance(message, RunEvent) and message.event.kind is self.event.kind
                and self.event.kind in SNAPSHOTS)

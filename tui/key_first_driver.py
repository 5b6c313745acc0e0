"""A terminal driver that holds the run's input gate the moment a key is read from the terminal.

Why: the app also holds the gate when the key reaches it (``RunningApp.on_event``), but under a
flood the key may wait there behind a frame that the UI thread draws while sharing the
interpreter lock with the parsers.  The driver's input thread reads the key first: holding the
gate there gives that frame, the key and its answer the whole lock (``tui.engine.input_first``).
"""

from __future__ import annotations

from typing import Any

from textual import events
from textual.driver import Driver
from textual.message import Message


def key_first_driver(base: type[Driver]) -> type[Driver]:
    """``base`` (the platform's driver) calling its app's ``hold_for_key()`` for each key it reads."""

    class KeyFirstDriver(base):  # type: ignore[valid-type, misc]  # a class chosen at run time
        def process_message(self, message: Message) -> None:
            if isinstance(message, events.Key):
                hold: Any = getattr(self._app, "hold_for_key", None)
                if hold is not None:
                    hold()
            super().process_message(message)

    KeyFirstDriver.__name__ = KeyFirstDriver.__qualname__ = f"KeyFirst{base.__name__}"
    return KeyFirstDriver

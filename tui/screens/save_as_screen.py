"""SaveAsScreen: ask for a new session name (validated as you type)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui.session import SessionError, validate_name


class SaveAsScreen(ModalScreen[str | None]):
    """Returns the new name, or None when cancelled."""

    DEFAULT_CSS = """
    SaveAsScreen {
        align: center middle;
        & > Vertical { width: 60; height: auto; padding: 1 2; }
        & .message { height: auto; }
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Save session as (enter to save, esc to cancel)", classes="title")
            yield Input(value=self.current, id="name", compact=True)
            yield Static("", classes="message", markup=False)

    def on_input_changed(self, event: Input.Changed) -> None:
        self.query_one(".message", Static).update(self._problem(event.value) or "")

    def _problem(self, name: str) -> str | None:
        try:
            validate_name(name)
        except SessionError as exc:
            return str(exc)
        return None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._problem(event.value) is None:
            self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)

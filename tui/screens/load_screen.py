"""LoadScreen: pick a saved session to open."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList


class LoadScreen(ModalScreen[str | None]):
    """Returns the chosen session name, or None when cancelled."""

    DEFAULT_CSS = """
    LoadScreen {
        align: center middle;
        & > Vertical { width: 60; height: auto; max-height: 20; padding: 1 2; }
        & OptionList { height: auto; max-height: 14; }
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            title = "Load session (enter to open, esc to cancel)" if self.names else "No saved sessions yet"
            yield Label(title, classes="title")
            yield OptionList(*self.names, id="sessions")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.names[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)

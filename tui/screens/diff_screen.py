"""DiffScreen: the session against the registry defaults or another saved session."""

from __future__ import annotations

from collections.abc import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label, Select

DEFAULTS = "(defaults)"


class DiffScreen(ModalScreen[None]):
    """A table of the variables that differ; the right side is chosen with a select."""

    DEFAULT_CSS = """
    DiffScreen {
        align: center middle;
        & > Vertical { width: 1fr; height: 1fr; padding: 0 1; }
        & DataTable { height: 1fr; }
        & Select { width: 40; }
    }
    """
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, left_name: str, others: list[str], rows_for: Callable[[str | None], list]) -> None:
        """Args:
            left_name: the current session's name.
            others: names of other saved sessions.
            rows_for: the session's ``DiffRow`` list against a session name, or the defaults for None.
        """
        super().__init__()
        self.left_name = left_name
        self.others = others
        self.rows_for = rows_for

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Diff: session {self.left_name!r} against … (esc to close)", classes="title")
            options = [(DEFAULTS, DEFAULTS)] + [(n, n) for n in self.others]
            yield Select(options, value=DEFAULTS, allow_blank=False, compact=True, id="right")
            yield DataTable(id="diff", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("variable", self.left_name, "other")
        self.show(None)
        table.focus()

    def show(self, right: str | None) -> None:
        table = self.query_one(DataTable)
        table.clear()
        rows = self.rows_for(right)
        for row in rows:
            table.add_row(row.name, row.left, row.right, key=row.name)
        if not rows:
            table.add_row("(no differences)", "", "")

    def on_select_changed(self, event: Select.Changed) -> None:
        value = event.value
        self.show(None if value == DEFAULTS else str(value))

    def action_close(self) -> None:
        self.dismiss(None)

"""CrashScreen: how the backend died, the in-flight kernel API call, its dumps, the last lines.

It opens by itself within a second of an abnormal exit (the app pushes it on the
``exited`` event).  The report is built by ``tui.crash`` (no parsing here); one key
re-runs the same request with the kernel API level raised to 3, 5 or 10.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static


class CrashScreen(ModalScreen[int | None]):
    """Dismissed with the kernel API level to re-run with, or None to close."""

    DEFAULT_CSS = """
    CrashScreen {
        align: center middle;
        & > Vertical { width: 1fr; height: 1fr; margin: 1 2; }
        & .title { height: auto; width: 1fr; }
        & VerticalScroll { height: 1fr; }
    }
    """
    BINDINGS = [
        Binding("3", "rerun(3)", "Re-run level 3"),
        Binding("5", "rerun(5)", "Level 5"),
        Binding("0", "rerun(10)", "Level 10"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, title: str, text: str) -> None:
        """Args:
            title: one line, e.g. ``killed by SIGSEGV (segmentation fault)``.
            text: the report (``CrashReport.to_text()``).
        """
        super().__init__()
        self.title_text = title
        self.report_text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog crash"):
            yield Label(f"CRASH: {self.title_text}", classes="title", markup=False)
            self._report = VerticalScroll(id="report")
            with self._report:
                yield Static(self.report_text, markup=False, id="report-text")
        yield Footer()

    def on_mount(self) -> None:
        self._report.focus()  # a reference, not a query: the screen may be closing already

    def action_rerun(self, level: int) -> None:
        self.dismiss(level)

    def action_close(self) -> None:
        self.dismiss(None)

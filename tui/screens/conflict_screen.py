"""ConflictScreen: the session changed on disk since it was loaded; reload, merge, overwrite or cancel.

Why a question and not a silent save: another writer (``env set`` in a terminal, a second
console) saved the file after this console read it; overwriting would lose that update.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

CHOICES = ("merge", "reload", "overwrite", "cancel")


class ConflictScreen(ModalScreen[str]):
    """Asks what to do; dismisses with one of :data:`CHOICES`."""

    DEFAULT_CSS = """
    ConflictScreen { align: center middle; }
    ConflictScreen > Vertical { width: 72; height: auto; border: thick $warning; padding: 1 2; background: $surface; }
    ConflictScreen Horizontal { height: auto; margin-top: 1; }
    ConflictScreen Button { margin-right: 1; }
    """
    BINDINGS = [Binding("escape", "dismiss('cancel')", "Cancel")]

    def __init__(self, name: str, changes: int) -> None:
        super().__init__()
        self.session_name = name
        self.changes = changes

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Session {self.session_name!r} changed on disk since it was loaded "
                         f"(another writer saved it). You have {self.changes} unsaved change(s).\n"
                         "Merge keeps the other writer's values and applies yours on top; reload drops yours; "
                         "overwrite drops theirs.", markup=False)
            with Horizontal():
                yield Button("Merge and save", id="merge", variant="primary")
                yield Button("Reload", id="reload")
                yield Button("Overwrite", id="overwrite", variant="error")
                yield Button("Cancel", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id or "cancel")


def ask_about_conflict(app: Any, session: Any, done: Callable[[str], None]) -> None:
    """Push the question; apply the answer to ``session`` and call ``done(what happened)``."""

    def answer(choice: str | None) -> None:
        from tui.session import SessionError

        try:
            if choice == "merge":
                both = session.merge_from_disk()
                session.save()
                done("merged" + (f"; yours won for {', '.join(both)}" if both else ""))
            elif choice == "reload":
                session.reload()
                done("reloaded from disk")
            elif choice == "overwrite":
                session.save(force=True)
                done("overwritten")
        except SessionError as exc:
            app.notify(str(exc), severity="error")

    app.push_screen(ConflictScreen(session.name, len(session.local_changes())), answer)

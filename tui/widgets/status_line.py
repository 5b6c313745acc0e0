"""StatusLine: one line of text that changes often (counts, follow state) without a relayout.

Why not ``Label``: ``Label.update`` asks for a layout pass every time; a status that changes with
every batch of output (every ~25 ms) would relayout the screen as often.  Its size is fixed by
CSS, so a plain repaint is enough; and none at all while it is hidden (``ShownRepaint``).
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive

from tui.widgets.shown_repaint import ShownRepaint


class StatusLine(ShownRepaint):
    """A fixed-height line; set ``text`` (a ``str`` or Rich ``Text``) to repaint it."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        width: 1fr;
    }
    """

    text: reactive[str | Text] = reactive("", layout=False, repaint=False)

    def __init__(self, text: str | Text = "", **kwargs: str) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]  # Textual's keywords, passed through
        self.set_reactive(StatusLine.text, text)

    def update(self, text: str | Text) -> None:
        """Same call as ``Label.update``, so views can swap one for the other."""
        self.text = text

    def watch_text(self) -> None:
        self.repaint()  # hidden (another view is showing): drawn when shown

    def render(self) -> Text:
        text = self.text if isinstance(self.text, Text) else Text(self.text)
        text.no_wrap = True
        text.overflow = "ellipsis"
        return text

"""NavBar: the settings panes and the live views as one line of text, drawn by one widget.

Why not two nested ``TabbedContent``: their tab rows were about twenty widgets (a ``ContentTab``
per label, an underline and four containers per row) and five of the 24 lines of an 80x24
terminal.  A view switch laid out, restyled and repainted each of them and sent each a Hide, Show
and Resize message: most of what an F2/F3 cost beyond the switch itself.  Here the labels are text
in one widget of fixed size: a switch repaints one line and never lays it out.

The bar shows both sections; the active one lists its items with the active item highlighted
(``Settings  Runtime  Platform ... │ Live``).  It holds only what is shown: the app decides what a
key or a click means and tells the bar with :meth:`NavBar.select`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget


class Section(NamedTuple):
    """One section of the bar: its id, its label and its items as ``(id, label)``."""

    id: str
    label: str
    items: tuple[tuple[str, str], ...]


class NavBar(Widget, can_focus=True):
    """``Settings  Runtime  Platform  Caching  Storage  Debug │ Live``: one line, one widget.

    Focused, left and right step through the active section's items (as a tab row does); they and
    a click on a label post :class:`NavBar.Selected`."""

    DEFAULT_CSS = """
    NavBar {
        height: 1;
        width: 1fr;
        background: $surface;
        & > .nav--section { color: $text-muted; }
        & > .nav--current { color: $foreground; text-style: bold; }
        & > .nav--item { color: $text-muted; }
        & > .nav--active { color: $foreground; text-style: bold underline; }
        &:focus > .nav--active {
            color: $block-cursor-foreground; background: $block-cursor-background; text-style: $block-cursor-text-style;
        }
    }
    """
    COMPONENT_CLASSES = {"nav--section", "nav--current", "nav--item", "nav--active"}
    BINDINGS = [
        Binding("left", "step(-1)", "Previous", show=False),
        Binding("right", "step(1)", "Next", show=False),
    ]

    class Selected(Message):
        """The operator asked for ``item`` of ``section`` (left/right on the focused bar, or a click)."""

        def __init__(self, section: str, item: str) -> None:
            super().__init__()
            self.section = section
            self.item = item

    def __init__(self, sections: Sequence[Section], *, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.sections = tuple(sections)
        self.section = self.sections[0].id
        """The section shown."""
        self.active: dict[str, str] = {s.id: s.items[0][0] for s in self.sections}
        """Per section, its item shown (or shown when the section is next opened)."""
        self._spans: list[tuple[int, int, str, str]] = []
        """What the last render drew where: ``(start, end, section, item)`` per label, in cells."""

    # ---- state -------------------------------------------------------------------------------
    def select(self, section: str, item: str | None = None) -> None:
        """Show ``section`` with ``item`` active (None: the item it had); a repaint, never a layout."""
        item = item or self.active[section]
        if (section, item) != (self.section, self.active[section]):
            self.section, self.active[section] = section, item
            self.refresh()

    def step(self, section: str, delta: int) -> str:
        """The item ``delta`` places after ``section``'s active one, wrapping."""
        ids = [i for i, _ in self._section(section).items]
        return ids[(ids.index(self.active[section]) + delta) % len(ids)]

    def section_of(self, item: str) -> str | None:
        """The section holding ``item``; None for an unknown id."""
        return next((s.id for s in self.sections if any(i == item for i, _ in s.items)), None)

    def _section(self, section: str) -> Section:
        return next(s for s in self.sections if s.id == section)

    def action_step(self, delta: int) -> None:
        self.post_message(self.Selected(self.section, self.step(self.section, delta)))

    def on_click(self, event: events.Click) -> None:
        """A section's label opens it where it was; an item's label opens that item."""
        for start, end, section, item in self._spans:
            if start <= event.x < end:
                self.post_message(self.Selected(section, item))
                return

    # ---- drawing -----------------------------------------------------------------------------
    def render(self) -> Text:
        styles = {name: self.get_component_rich_style(name) for name in self.COMPONENT_CLASSES}
        bar = Text(no_wrap=True, overflow="ellipsis", end="")
        spans: list[tuple[int, int, str, str]] = []

        def label(text: str, style: str, section: str, item: str) -> None:
            start = bar.cell_len
            bar.append(f" {text} ", style=styles[style])
            spans.append((start, bar.cell_len, section, item))

        for n, section in enumerate(self.sections):
            if n:
                bar.append("│", style=styles["nav--section"])
            current = section.id == self.section
            label(section.label, "nav--current" if current else "nav--section", section.id, self.active[section.id])
            if current:
                bar.append(" ")
                for item, text in section.items:
                    label(text, "nav--active" if item == self.active[section.id] else "nav--item", section.id, item)
                bar.append(" ")
        self._spans = spans
        return bar

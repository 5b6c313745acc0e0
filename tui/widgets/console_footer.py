"""ConsoleFooter: the key bar, drawn as one line of text by one widget.

Why not Textual's ``Footer``: it recomposes a ``FooterKey`` widget per binding on every
``bindings_updated`` signal (each focus move, each view switch).  Composing, styling and laying
out those widgets was a large share of a view switch (about ten widgets built per key press), and
each rebuilt key stayed referenced from the footer's watcher list (0.46 MiB per switch).  Here the
keys are text in a widget of fixed size: a change of the shown keys is a repaint of one line,
never a layout or a compose.  (Keys are pressed, not clicked: the bar is a legend.)
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rich.style import Style
from rich.text import Text
from textual.screen import Screen
from textual.widget import Widget


class FooterEntry(NamedTuple):
    """One key as the bar draws it."""

    shown: str
    """The key as displayed (``^s``, ``f5``)."""
    key: str
    description: str
    enabled: bool


Shown = tuple[tuple[FooterEntry, ...], FooterEntry | None]
"""The bar's content: the keys, then the command palette's key on the right."""


class ConsoleFooter(Widget):
    """Same place, colours and keys as Textual's ``Footer``; one widget, repainted only on change."""

    DEFAULT_CSS = """
    ConsoleFooter {
        dock: bottom;
        height: 1;
        width: 1fr;
        color: $footer-foreground;
        background: $footer-background;
        & > .footer--key { color: $footer-key-foreground; background: $footer-key-background; text-style: bold; }
        & > .footer--description { color: $footer-description-foreground; background: $footer-description-background; }
        & > .footer--disabled { color: $footer-foreground 50%; }
    }
    """
    COMPONENT_CLASSES = {"footer--key", "footer--description", "footer--disabled"}

    def __init__(self, *, show_command_palette: bool = True, id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.show_command_palette = show_command_palette
        self._shown: Shown = ((), None)
        self.rebuilds = 0
        """How many times the shown keys changed (tests assert a view switch does not always change them)."""

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._bindings_changed(self.screen)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[Any]) -> None:
        if not self.is_attached or screen is not self.screen:
            return
        shown = self.shown_keys()
        if shown != self._shown:
            self._shown = shown
            self.rebuilds += 1
            self.refresh()  # same size: a repaint, no layout

    def shown_keys(self) -> Shown:
        """What the bar draws now: the shown bindings, one per action (its first binding, as Textual's
        footer does); then the palette's key."""
        if not self.is_attached:
            return ((), None)
        active = self.screen.active_bindings
        keys: dict[str, FooterEntry] = {}
        for _node, binding, enabled, _tooltip in active.values():
            if binding.show and binding.action not in keys:
                keys[binding.action] = FooterEntry(self.app.get_key_display(binding), binding.key,
                                                   binding.description, enabled)
        palette = None
        if self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            found = active.get(self.app.COMMAND_PALETTE_BINDING)
            if found is not None:
                _node, binding, enabled, _tooltip = found
                palette = FooterEntry(self.app.get_key_display(binding), binding.key, binding.description, enabled)
        return (tuple(keys.values()), palette)

    def render(self) -> Text:
        key_style, text_style, off_style = (self._on_bar(name) for name in
                                            ("footer--key", "footer--description", "footer--disabled"))
        entries, palette = self._shown
        bar = Text(no_wrap=True, overflow="crop", end="")
        for entry in entries:
            bar.append_text(self._key_text(entry, key_style, text_style, off_style))
        if palette is not None:
            right = self._key_text(palette, key_style, text_style, off_style)
            gap = self.size.width - bar.cell_len - right.cell_len
            if gap >= 1:
                bar.append(" " * gap)
                bar.append_text(right)
        return bar

    def _on_bar(self, component: str) -> Style:
        """A component's style over the bar's background (a theme's transparent key background
        would otherwise come out as the terminal's own)."""
        styles = self.get_component_styles(component)
        bar = self.background_colors[1]
        background = bar + styles.background
        return Style(color=(background + styles.color).rich_color, bgcolor=background.rich_color,
                     bold=styles.text_style.bold, dim=styles.text_style.dim)

    @staticmethod
    def _key_text(entry: FooterEntry, key_style: Style, text_style: Style, off_style: Style) -> Text:
        text = Text()
        text.append(f" {entry.shown} ", style=key_style if entry.enabled else off_style)
        text.append(f"{entry.description} ", style=text_style if entry.enabled else off_style)
        return text

"""OutputLog: a bounded, followable, filterable log of router lines, drawn line by line.

Why not ``Log``/``RichLog``: writing line by line schedules work per line (the stack
notes' trap) and neither keeps per-line stream marks.  This widget stores the router's
``Line`` records in a bounded list (appends are O(1) per batch), and renders only the
visible rows with the Line API, converting ANSI colours lazily through a small cache.
It never parses: the router already split streams and stripped ANSI into ``plain``.

A line ended by a bare ``\\r`` (``Line.cr``: a tqdm redraw) is overwritten by the next line of its
stream, as a terminal would: a progress bar stays one line that moves, not one line per fragment.
Only the view folds them; the log on disk and the router keep every fragment.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

MAX_DISPLAY_CHARS = 2000
"""A longer line is cut on screen (the log on disk keeps it whole)."""
REDRAW_LOOKBACK = 512
"""How far back a ``\\r`` line is looked for when its stream redraws it (other streams' lines may
have come in between); an older one is left in place and the new line appended."""


class OutputLog(ScrollView, can_focus=True):
    """The lines, with a stderr gutter, search highlights and follow mode."""

    COMPONENT_CLASSES = {"output-log--stderr", "output-log--match", "output-log--current", "output-log--gutter"}
    DEFAULT_CSS = """
    OutputLog {
        height: 1fr;
        width: 1fr;
        overflow: auto auto;
    }
    """
    BINDINGS = [
        Binding("end", "follow", "Follow", show=False),
        Binding("home", "scroll_home", "Top", show=False),
        Binding("up", "scroll_up", "Up", show=False),
        Binding("down", "scroll_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
    ]

    follow: reactive[bool] = reactive(True)
    """Keep the newest line in view; scrolling up turns it off, End turns it back on."""
    unseen: reactive[int] = reactive(0)
    """Lines that arrived while follow was off."""

    def __init__(self, max_lines: int = 50_000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_lines = max_lines
        self._lines: list[Any] = []
        self._shown: list[Any] = self._lines
        self._filter: re.Pattern[str] | None = None
        self._invert = False
        self._search: re.Pattern[str] | None = None
        self._matches: list[int] = []
        self._current_match = -1
        self._width = 0
        self._cache: OrderedDict[tuple[int, int], Strip] = OrderedDict()
        self._base_style: Style | None = None
        """``rich_style`` for the frame being drawn (see :meth:`render_lines`)."""
        self._behind = False
        """Lines arrived while hidden and the scroll geometry has not caught up yet."""
        self._redrawing: dict[str, Any] = {}
        """Per stream, its last line if that ended in a bare ``\\r``: the next line of the stream replaces it."""

    # ---- data in ------------------------------------------------------------------------
    def add_lines(self, lines: Sequence[Any]) -> None:
        """Append router ``Line`` records (one call per batch, never per line); ``\\r`` lines are redrawn."""
        if not lines:
            return
        if self._redrawing or any(getattr(line, "cr", False) for line in lines):
            lines = self._fold_redraws(lines)
            if not lines:  # every line redrew one already shown
                if self.is_on_screen:
                    self._grow()
                else:
                    self._behind = True
                return
        self._lines.extend(lines)
        if len(self._lines) > self.max_lines + self.max_lines // 10:
            cut = len(self._lines) - self.max_lines
            del self._lines[:cut]
            if self._shown is not self._lines:
                self._refilter()
            self._cache.clear()
            self._matches = []
        elif self._shown is not self._lines:
            self._shown.extend(line for line in lines if self._keep(line))
        widest = max(min(len(line.plain), MAX_DISPLAY_CHARS) for line in lines) + 2
        self._width = max(self._width, widest)
        if not self.follow:
            self.unseen += len(lines)
        if not self.is_on_screen:
            # Hidden (another tab is showing): growing the virtual size would relayout the whole
            # screen for nothing; catch up once, when it is shown again (``on_show``).
            self._behind = True
            return
        self._catch_up()

    def _fold_redraws(self, lines: Sequence[Any]) -> list[Any]:
        """Put each line that follows a ``\\r`` line of its stream in that line's place; return the rest."""
        fresh: list[Any] = []
        for line in lines:
            previous = self._redrawing.pop(line.stream, None)
            if previous is None or not (self._replace_in(fresh, previous, line) or self._replace_shown(previous, line)):
                fresh.append(line)
            if getattr(line, "cr", False):
                self._redrawing[line.stream] = line
        return fresh

    @staticmethod
    def _replace_in(lines: list[Any], old: Any, new: Any) -> bool:
        for i in range(len(lines) - 1, max(-1, len(lines) - 1 - REDRAW_LOOKBACK), -1):
            if lines[i] is old:
                lines[i] = new
                return True
        return False

    def _replace_shown(self, old: Any, new: Any) -> bool:
        """Replace ``old`` in the stored lines (and the filtered view) by ``new``."""
        if not self._replace_in(self._lines, old, new):
            return False
        if self._shown is not self._lines:
            for i in range(len(self._shown) - 1, max(-1, len(self._shown) - 1 - REDRAW_LOOKBACK), -1):
                if self._shown[i] is old:
                    if self._keep(new):
                        self._shown[i] = new
                    else:
                        del self._shown[i]
                    break
            else:
                if self._keep(new):
                    self._shown.append(new)
        self._matches = []
        self._width = max(self._width, min(len(new.plain), MAX_DISPLAY_CHARS) + 2)
        self.refresh()
        return True

    def _catch_up(self) -> None:
        self._behind = False
        self._grow()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def on_show(self) -> None:
        if self._behind:
            self.call_after_refresh(self._catch_up)

    def clear(self) -> None:
        self._lines.clear()
        self._redrawing.clear()
        self._shown = self._lines if self._filter is None else []
        self._cache.clear()
        self._matches = []
        self._width = 0
        self.unseen = 0
        self._grow()

    @property
    def shown_lines(self) -> list[Any]:
        return self._shown

    def _grow(self) -> None:
        size = Size(self._width, len(self._shown))
        if size != self.virtual_size:
            # Only the scroll extent changes (the log's own region is 1fr): setting the reactive
            # would ask for a layout of the whole screen at every batch.  A scrollbar appearing
            # still relayouts once (``_scroll_update`` sees it).
            self.set_reactive(Widget.virtual_size, size)
            if self.is_mounted:
                self._scroll_update(size)
        self.refresh()

    # ---- filter and search ----------------------------------------------------------------
    def _keep(self, line: Any) -> bool:
        assert self._filter is not None
        return bool(self._filter.search(line.plain)) != self._invert

    def _refilter(self) -> None:
        if self._filter is None:
            self._shown = self._lines
        else:
            self._shown = [line for line in self._lines if self._keep(line)]

    def set_filter(self, pattern: re.Pattern[str] | None, invert: bool) -> None:
        """Show only lines matching ``pattern`` (or not matching it when ``invert``)."""
        self._filter, self._invert = pattern, invert
        self._refilter()
        self._cache.clear()
        self._matches = []
        self._grow()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def set_search(self, pattern: re.Pattern[str] | None) -> int:
        """Highlight ``pattern``; returns the number of matching lines shown."""
        self._search = pattern
        self._cache.clear()
        self._matches = [] if pattern is None else [
            i for i, line in enumerate(self._shown) if pattern.search(line.plain)]
        self._current_match = -1
        self.refresh()
        return len(self._matches)

    def jump(self, forward: bool) -> tuple[int, int]:
        """Go to the next (or previous) match; returns ``(position 1-based, count)``."""
        if self._search is not None and not self._matches:
            self.set_search(self._search)
        if not self._matches:
            return 0, 0
        step = 1 if forward else -1
        if self._current_match < 0:
            top = int(self.scroll_y)
            after = [k for k, i in enumerate(self._matches) if (i > top if forward else i < top)]
            self._current_match = (after[0] if forward else after[-1]) if after else (0 if forward else -1)
        else:
            self._current_match = (self._current_match + step) % len(self._matches)
        self._current_match %= len(self._matches)
        row = self._matches[self._current_match]
        self.follow = False
        self.scroll_to(y=max(0, row - self.size.height // 2), animate=False, immediate=True)
        self._cache.clear()
        self.refresh()
        return self._current_match + 1, len(self._matches)

    def current_match_text(self) -> str | None:
        if 0 <= self._current_match < len(self._matches):
            return str(self._shown[self._matches[self._current_match]].plain)
        return None

    # ---- follow ---------------------------------------------------------------------------
    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new < old and new < self.max_scroll_y:
            self.follow = False
        elif new >= self.max_scroll_y and not self.follow and new > old:
            self.follow = True

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.unseen = 0
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def on_resize(self) -> None:
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False, force=True)

    def action_follow(self) -> None:
        self.follow = True

    # ---- drawing --------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        """A theme or CSS change: lines drawn with the old styles are stale."""
        super().notify_style_update()
        self._cache.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        """One ``rich_style`` (a walk up every ancestor) per frame, not one per line."""
        self._base_style = None
        return super().render_lines(crop)

    @property
    def base_style(self) -> Style:
        if self._base_style is None:
            self._base_style = self.rich_style
        return self._base_style

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        if index >= len(self._shown):
            return Strip.blank(width, self.base_style)
        line = self._shown[index]
        current = 0 <= self._current_match < len(self._matches) and self._matches[self._current_match] == index
        key = (line.seq, 2 if current else 1 if self._search else 0)
        strip = self._cache.get(key)
        if strip is None:
            strip = self._make_strip(line, current)
            self._cache[key] = strip
            if len(self._cache) > 2000:
                self._cache.popitem(last=False)
        return strip.crop_extend(scroll_x, scroll_x + width, self.base_style)

    def _make_strip(self, line: Any, current: bool) -> Strip:
        text = line.text if len(line.text) <= MAX_DISPLAY_CHARS * 2 else line.plain[:MAX_DISPLAY_CHARS]
        body = Text.from_ansi(text, no_wrap=True, end="") if "\x1b" in text else Text(text, no_wrap=True, end="")
        if len(body) > MAX_DISPLAY_CHARS or line.truncated:
            body.truncate(MAX_DISPLAY_CHARS)
            body.append(" …", style="dim")
        if self._search is not None:
            style = self.get_component_rich_style("output-log--current" if current else "output-log--match")
            for m in self._search.finditer(body.plain):
                if m.end() > m.start():
                    body.stylize(style, m.start(), m.end())
        if line.is_stderr:
            gutter = Segment("▌", self.get_component_rich_style("output-log--stderr"))
        else:
            gutter = Segment(" ", Style())
        segments = [gutter, Segment(" "), *body.render(self.app.console)]
        return Strip(segments).apply_style(self.base_style).simplify()

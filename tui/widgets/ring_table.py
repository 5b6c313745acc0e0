"""RingTable: a bounded table drawn with the Line API; O(1) append and eviction at any row count.

Why not ``DataTable``: at 5,000 rows its ``remove_row`` per evicted row and its row
bookkeeping made every kernel API call cost 20-34 ms; and each change of its virtual size
asked for a layout of the whole screen.  Here rows live in a list used as a ring (the oldest
tenth is cut at once, so appends and evictions are amortised O(1)), only the visible rows are
rendered, and the scroll extent changes without a relayout (the widget's own size never
depends on its rows).  A filter keeps a second list of the matching rows, maintained the same way.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

from tui.widgets.shown_repaint import ShownRepaint

Cell = str | Text


@dataclass(frozen=True)
class Column:
    """A column: header label, width in cells (None: takes the rest), right-aligned or not."""

    label: str
    width: int | None = None
    right: bool = False


Cells = Sequence[Cell] | Callable[[], Sequence[Cell]]
"""A row's cells, or what makes them when the row is first drawn (a flood appends thousands of rows
a second and shows twenty: the others are never formatted)."""


@dataclass(slots=True)
class Row:
    seq: int
    """Arrival number, unique and increasing: rows are found by it with a bisection."""
    payload: Any
    made: Cells

    @property
    def cells(self) -> tuple[Cell, ...]:
        made = self.made
        if not isinstance(made, tuple):
            made = self.made = tuple(made() if callable(made) else made)
        return made


class RingTable(ShownRepaint, ScrollView, can_focus=True):
    """Header line, then the rows; a cursor row that follows the newest row until moved up."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"ring-table--header", "ring-table--cursor"}
    DEFAULT_CSS = """
    RingTable {
        height: 1fr;
        width: 1fr;
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
        & > .ring-table--header { text-style: bold; background: $panel; }
        & > .ring-table--cursor { background: $block-cursor-blurred-background; }
        &:focus > .ring-table--cursor { background: $block-cursor-background; color: $block-cursor-foreground; }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last (follow)", show=False),
    ]

    follow: reactive[bool] = reactive(True, layout=False)
    """The cursor stays on the newest row; moving up turns it off, End turns it back on."""

    class Highlighted(Message):
        """The operator moved the cursor to a row (not sent while following new rows)."""

        def __init__(self, table: RingTable, payload: Any) -> None:
            super().__init__()
            self.table = table
            self.payload = payload

        @property
        def control(self) -> RingTable:
            return self.table

    def __init__(self, columns: Sequence[Column], max_rows: int = 5000, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.columns = tuple(columns)
        self.max_rows = max_rows
        self._rows: list[Row] = []
        self._shown: list[Row] = self._rows
        self._keep: Callable[[Any], bool] | None = None
        self._seq = 0
        self._cursor = -1
        """Index into the shown rows; -1 when there are none."""
        self._strips: dict[tuple[int, bool, int], Strip] = {}
        self._widths_at: dict[int, list[int]] = {}
        self._line_styles: tuple[Style, Style, Style] | None = None
        """(base, header, cursor) styles, computed once per style change (``rich_style`` walks every
        ancestor: per line it was most of a frame's time under a flood)."""

    # ---- data ---------------------------------------------------------------------------------
    def append_rows(self, rows: Iterable[tuple[Any, Cells]]) -> None:
        """``(payload, cells)`` pairs, oldest first; the oldest rows beyond ``max_rows`` go.  ``cells``
        may be a function: it is called when the row is first drawn, if ever."""
        filtered = self._shown is not self._rows
        added = False
        for payload, cells in rows:
            self._seq += 1
            row = Row(self._seq, payload, cells)
            self._rows.append(row)
            if filtered and self._keep is not None and self._keep(payload):
                self._shown.append(row)
                added = True
            added = added or not filtered
        if len(self._rows) > self.max_rows + max(1, self.max_rows // 10):
            self._evict(len(self._rows) - self.max_rows)
        if added or not self._shown:
            self._extent_changed(appended=added)

    def _evict(self, count: int) -> None:
        oldest_kept = self._rows[count].seq
        del self._rows[:count]
        if self._shown is not self._rows:
            gone = bisect_left(self._shown, oldest_kept, key=lambda r: r.seq)
            del self._shown[:gone]
        else:
            gone = count
        if self._cursor >= 0:
            self._cursor = max(0 if self._shown else -1, self._cursor - gone)
        self._strips.clear()

    def clear(self) -> None:
        """Forget every row (a new run)."""
        self._rows.clear()
        self._shown = self._rows if self._keep is None else []
        self._cursor = -1
        self._strips.clear()
        self.follow = True
        self._extent_changed(appended=False)

    def set_filter(self, keep: Callable[[Any], bool] | None) -> None:
        """Show only rows whose payload ``keep`` accepts (None: every row); the cursor stays on its row if shown."""
        selected = self.cursor_seq
        self._keep = keep
        self._shown = self._rows if keep is None else [r for r in self._rows if keep(r.payload)]
        if self.follow or selected is None:
            self._cursor = len(self._shown) - 1
        else:
            self._cursor = min(bisect_left(self._shown, selected, key=lambda r: r.seq), len(self._shown) - 1)
        self._strips.clear()
        self._extent_changed(appended=False)

    @property
    def row_count(self) -> int:
        """Rows shown (after the filter)."""
        return len(self._shown)

    @property
    def total_rows(self) -> int:
        """Rows kept (before the filter)."""
        return len(self._rows)

    def row(self, index: int) -> Row:
        return self._shown[index]

    def get_row_at(self, index: int) -> tuple[Cell, ...]:
        """The cells of shown row ``index`` (same name as ``DataTable``'s)."""
        return self._shown[index].cells

    def payloads(self) -> list[Any]:
        return [r.payload for r in self._rows]

    @property
    def cursor_row(self) -> int:
        return self._cursor

    @property
    def cursor_seq(self) -> int | None:
        return self._shown[self._cursor].seq if 0 <= self._cursor < len(self._shown) else None

    @property
    def cursor_payload(self) -> Any:
        return self._shown[self._cursor].payload if 0 <= self._cursor < len(self._shown) else None

    # ---- cursor -------------------------------------------------------------------------------
    def move_cursor(self, row: int) -> None:
        """Put the cursor on shown row ``row`` (clamped) and say so with :class:`Highlighted`."""
        if not self._shown:
            return
        self._cursor = max(0, min(row, len(self._shown) - 1))
        self.follow = self._cursor == len(self._shown) - 1
        self._strips.clear()
        if self.is_mounted:
            self._scroll_to_cursor()
            self.refresh()
            self.post_message(self.Highlighted(self, self._shown[self._cursor].payload))

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self._cursor + step)

    def action_page(self, step: int) -> None:
        self.move_cursor(self._cursor + step * max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._shown) - 1)

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.move_cursor(int(self.scroll_y) + event.y - 1)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if new < old and new < self.max_scroll_y:  # the operator scrolled up: stop following
            self.follow = False

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, immediate=True)
        elif self._cursor >= top + visible:
            self.scroll_to(y=self._cursor - visible + 1, animate=False, immediate=True)

    # ---- extent without relayout --------------------------------------------------------------
    def _extent_changed(self, appended: bool) -> None:
        if appended and self.follow:
            self._cursor = len(self._shown) - 1  # strips are keyed by (row, is cursor, width): no clear
        self._cursor = min(self._cursor, len(self._shown) - 1)
        if self.is_mounted and not self.is_on_screen:
            self._stale = True  # another view is showing: scroll and repaint once shown (``catch_up``)
            return
        size = Size(self.size.width, len(self._shown) + 1)
        if size != self.virtual_size:
            # The widget's own region does not depend on its rows (1fr, scrollbar always there),
            # so only the scroll extent changes: no layout of the screen (the reactive would ask
            # for one at every batch).
            self.set_reactive(Widget.virtual_size, size)
            if self.is_mounted:
                self._scroll_update(size)
        if self.follow and self.is_mounted:
            self.scroll_to(y=max(0, len(self._shown) + 1 - self.size.height), animate=False, immediate=True)
        self.refresh()

    def on_resize(self) -> None:
        self._strips.clear()
        self._extent_changed(appended=False)

    def catch_up(self) -> None:
        self._extent_changed(appended=False)

    # ---- drawing ------------------------------------------------------------------------------
    def _widths(self, total: int) -> list[int]:
        widths = self._widths_at.get(total)
        if widths is None:
            fixed = sum(c.width or 0 for c in self.columns) + len(self.columns) - 1
            flexible = sum(1 for c in self.columns if c.width is None)
            rest = max(4, (total - fixed) // flexible) if flexible else 0
            widths = self._widths_at[total] = [c.width if c.width is not None else rest for c in self.columns]
        return widths

    def _segments(self, cells: Sequence[Cell], width: int) -> list[Segment]:
        """One row as segments: each cell fitted to its column (ellipsis when cut), one space between.
        Segments, not a Text per row: under a flood every visible row is new in every frame."""
        out: list[Segment] = []
        last = len(self.columns) - 1
        for i, (column, size) in enumerate(zip(self.columns, self._widths(width), strict=False)):
            cell = cells[i] if i < len(cells) else ""
            if isinstance(cell, Text) and cell.spans:  # several styles in one cell: rich lays it out
                text = cell.copy()
                text.truncate(size, overflow="ellipsis", pad=True)
                if column.right:
                    text.align("right", size)
                out += text.render(self.app.console)
            else:
                plain, style = (cell.plain, cell.style) if isinstance(cell, Text) else (cell, None)
                length = cell_len(plain)
                if length > size:
                    plain, length = set_cell_size(plain, max(0, size - 1)) + "…", size
                pad = " " * (size - length)
                if column.right and pad:
                    out.append(Segment(pad))
                out.append(Segment(plain, self.app.console.get_style(style) if isinstance(style, str) and style
                                   else style if isinstance(style, Style) else None))
                if not column.right and pad:
                    out.append(Segment(pad))
            if i < last:
                out.append(Segment(" "))
        return out

    def notify_style_update(self) -> None:
        """Styles changed (theme, focus, class): cached styles and strips are stale."""
        super().notify_style_update()
        self._line_styles = None
        self._strips.clear()

    def _styles(self) -> tuple[Style, Style, Style]:
        if self._line_styles is None:
            base = self.rich_style
            self._line_styles = (base, base + self.get_component_rich_style("ring-table--header"),
                                 base + self.get_component_rich_style("ring-table--cursor"))
        return self._line_styles

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base, header_style, cursor_style = self._styles()
        if y == 0:
            header = self._segments([c.label for c in self.columns], width)
            return Strip(header).apply_style(header_style).crop_extend(0, width, header_style)
        index = int(self.scroll_y) + y - 1
        if not 0 <= index < len(self._shown):
            return Strip.blank(width, base)
        row = self._shown[index]
        current = index == self._cursor
        key = (row.seq, current, width)
        strip = self._strips.get(key)
        if strip is None:
            style = cursor_style if current else base
            strip = Strip(self._segments(row.cells, width)).apply_style(style).crop_extend(0, width, style)
            if len(self._strips) > 1000:
                self._strips.clear()
            self._strips[key] = strip
        return strip

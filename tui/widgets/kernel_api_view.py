"""KernelApiView: the kernel API log as blocks (one row per call), filter, NaN/Inf, calls per API.

Blocks come parsed from the router (``KernelApiCall``); the detail pane formats a
call's arguments with ``backend.records.render_value``, the writer's own renderer.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Label, Static

from backend.records import render_value
from tui.widgets.status_line import StatusLine

MAX_CALLS = 5000


def call_status(call: Any) -> str:
    if call.exception is not None:
        return f"raised {call.exception[0]}"
    return "ok" if call.completed else "IN FLIGHT"


def call_detail(stream: str, call: Any) -> Text:
    """The block of one call, as the kernel API log shows it, with NaN/Inf lines marked."""
    text = Text()
    when = call.timestamp.strftime("%Y-%m-%d %H:%M:%S") if call.timestamp else "?"
    text.append(f"{call.api_name}", style="bold")
    text.append(f"  #{call.index} · {when} · {stream} · {call_status(call)}\n")
    for label, value in call.inputs:
        lines = render_value(value)
        text.append(f"{label}: {lines[0]}\n")
        for extra in lines[1:]:
            bad = ("nan_count=" in extra or "inf_count=" in extra) and not extra.rstrip().endswith("=0")
            text.append(f"    {extra}\n", style="bold red" if bad else "")
    if call.output is not None:
        lines = render_value(call.output)
        text.append(f"Output: {lines[0]}\n")
        for extra in lines[1:]:
            text.append(f"    {extra}\n")
    if call.exception is not None:
        text.append(f"Exception: {call.exception[0]}: {call.exception[1]}\n", style="bold red")
    if call.dumped_inputs_dir:
        text.append(f"inputs dumped to {call.dumped_inputs_dir}\n")
    if call.dumped_outputs_dir:
        text.append(f"outputs dumped to {call.dumped_outputs_dir}\n")
    return text


class KernelApiView(Vertical):
    """Filter box and totals on top; calls list on the left, the selected block on the right."""

    DEFAULT_CSS = """
    KernelApiView {
        height: 1fr;
        & > .toolbar { height: 1; }
        & > .toolbar > Input { width: 30; }
        & > .toolbar > .totals { width: 1fr; padding-left: 1; }
        & > .counts { height: auto; max-height: 2; width: 1fr; }
        & > Horizontal { height: 1fr; }
        & DataTable { width: 3fr; height: 1fr; }
        & VerticalScroll { width: 2fr; height: 1fr; }
    }
    """
    BINDINGS = [Binding("slash", "focus_filter", "Filter API")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._calls: dict[int, tuple[str, Any]] = {}
        """Bounded, in arrival order: row key -> (stream, call)."""
        self._counter = 0
        self._pattern = ""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="toolbar"):
            yield Input(placeholder="/ filter API (e.g. *attention*)", id="api-filter", compact=True)
            yield StatusLine("no calls yet", classes="totals", id="totals")
        yield Label("", classes="counts", id="counts", markup=False)
        with Horizontal():
            yield DataTable(id="calls", cursor_type="row")
            with VerticalScroll():
                yield Static("", id="detail", markup=False)

    def on_mount(self) -> None:
        self.query_one("#calls", DataTable).add_columns("#", "API", "status", "NaN", "Inf")

    def _matches(self, name: str) -> bool:
        pattern = self._pattern
        if not pattern:
            return True
        if any(c in pattern for c in "*?["):
            return fnmatch.fnmatch(name, pattern)
        return pattern.lower() in name.lower()

    def _add_row(self, table: DataTable[Any], key: int, stream: str, call: Any) -> None:
        nan, inf = call.nan_total(), call.inf_total()
        bad = "bold red"
        status = call_status(call)
        table.add_row(
            str(call.index), "  " * call.depth + call.api_name,
            Text(status, style=bad if status != "ok" else ""),
            Text(str(nan), style=bad if nan else "dim"), Text(str(inf), style=bad if inf else "dim"),
            key=str(key),
        )  # fmt: skip

    def add_calls(self, calls: Iterable[tuple[str, Any]]) -> None:
        """Completed (or flushed in-flight) calls from the router batch, with their stream."""
        table = self.query_one("#calls", DataTable)
        follow = table.row_count == 0 or table.cursor_row >= table.row_count - 1
        added = False
        for stream, call in calls:
            self._counter += 1
            self._calls[self._counter] = (stream, call)
            if self._matches(call.api_name):
                self._add_row(table, self._counter, stream, call)
                added = True
        while len(self._calls) > MAX_CALLS:
            oldest = next(iter(self._calls))
            del self._calls[oldest]
            if str(oldest) in table.rows:
                table.remove_row(str(oldest))
        if added and follow:
            table.move_cursor(row=table.row_count - 1)

    @property
    def calls(self) -> list[tuple[str, Any]]:
        return list(self._calls.values())

    def show_totals(self, api_counts: Mapping[str, int], nan_total: int, inf_total: int) -> None:
        """Cumulative counters from the router (calls per API, NaN/Inf over all tensors)."""
        total = sum(api_counts.values())
        totals = Text(f"{total} calls · ")
        totals.append(f"NaN {nan_total}", style="bold red reverse" if nan_total else "")
        totals.append(" · ")
        totals.append(f"Inf {inf_total}", style="bold red reverse" if inf_total else "")
        self.query_one("#totals", StatusLine).update(totals)
        self.set_class(bool(nan_total or inf_total), "-nonfinite")
        top = sorted(api_counts.items(), key=lambda kv: -kv[1])
        counts = " · ".join(f"{name} ×{count}" for name, count in top)
        label = self.query_one("#counts", Label)
        if str(label.content) != counts:  # a Label update relayouts: only when it changed
            label.update(counts)

    def _rebuild(self) -> None:
        table = self.query_one("#calls", DataTable)
        table.clear()
        for key, (stream, call) in self._calls.items():
            if self._matches(call.api_name):
                self._add_row(table, key, stream, call)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._pattern = event.value.strip()
        self._rebuild()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_one("#calls", DataTable).focus()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        if event.row_key is None or event.row_key.value is None:
            return
        found = self._calls.get(int(event.row_key.value))
        if found is not None:
            self.query_one("#detail", Static).update(call_detail(*found))

    def action_focus_filter(self) -> None:
        self.query_one("#api-filter", Input).focus()

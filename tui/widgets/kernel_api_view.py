"""KernelApiView: the kernel API log as blocks (one row per call), filter, NaN/Inf, calls per API.

Blocks come parsed from the router (``KernelApiCall``); the detail pane formats a
call's arguments with ``backend.records.render_value``, the writer's own renderer.
A level-3 run logs tens of thousands of calls: the rows live in a :class:`RingTable`
(bounded, O(1) per call at any count) and are cleared at each run.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Static

from backend.records import render_value
from tui.widgets.ring_table import Column, RingTable
from tui.widgets.status_line import StatusLine

MAX_CALLS = 5000
"""Calls kept on screen (the run log on disk keeps them all; the totals count them all)."""
COLUMNS = (Column("#", 5, right=True), Column("API"), Column("status", 9), Column("NaN", 4, right=True),
           Column("Inf", 4, right=True))


def call_status(call: Any) -> str:
    if call.exception is not None:
        return f"raised {call.exception[0]}"
    return "ok" if call.completed else "IN FLIGHT"


def call_detail(stream: str, call: Any, worker: str = "") -> Text:
    """The block of one call, as the kernel API log shows it, with NaN/Inf lines marked; ``worker``
    names the ``--num-workers`` worker whose log it came from (rank, pid, device)."""
    text = Text()
    when = call.timestamp.strftime("%Y-%m-%d %H:%M:%S") if call.timestamp else "?"
    text.append(f"{call.api_name}", style="bold")
    text.append(f"  #{call.index} · {when} · {worker + ' · ' if worker else ''}{stream} · {call_status(call)}\n")
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
    """Filter box and totals on top; calls list on the left, the selected block on the right.

    Update methods work before the view is first shown: what they are given is kept and
    drawn when it is composed (the console composes a view on its first show)."""

    DEFAULT_CSS = """
    KernelApiView {
        height: 1fr;
        & > .toolbar { height: 1; }
        & > .toolbar > Input { width: 30; }
        & > .toolbar > .totals { width: 1fr; padding-left: 1; }
        & > .counts { height: 1; width: 1fr; }
        & > Horizontal { height: 1fr; }
        & RingTable { width: 3fr; height: 1fr; }
        & VerticalScroll { width: 2fr; height: 1fr; }
    }
    """
    BINDINGS = [Binding("slash", "focus_filter", "Filter API")]

    def __init__(self, max_calls: int = MAX_CALLS, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._table = RingTable(COLUMNS, max_rows=max_calls, id="calls")
        self._pattern = ""
        self._totals: tuple[Mapping[str, int], int, int] = ({}, 0, 0)
        self._workers: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        with Horizontal(classes="toolbar"):
            yield Input(placeholder="/ filter API (e.g. *attention*)", id="api-filter", compact=True)
            yield StatusLine("no calls yet", classes="totals", id="totals")
        yield StatusLine("", classes="counts", id="counts")
        with Horizontal():
            yield self._table
            with VerticalScroll():
                yield Static("select a call (↑/↓, click) to see its block", id="detail", markup=False)

    def on_mount(self) -> None:
        self._paint_totals()

    @property
    def table(self) -> RingTable:
        return self._table

    def _matches(self, name: str) -> bool:
        pattern = self._pattern
        if not pattern:
            return True
        if any(c in pattern for c in "*?["):
            return fnmatch.fnmatch(name, pattern)
        return pattern.lower() in name.lower()

    def add_calls(self, calls: Iterable[tuple[str, Any]]) -> None:
        """Completed (or flushed in-flight) calls from the router batch, with their stream."""
        self._table.append_rows(((stream, call), partial(call_cells, call)) for stream, call in calls)

    def show_workers(self, labels: Mapping[str, str]) -> None:
        """Which worker (rank, pid, device) wrote each stream's calls (``--num-workers`` runs)."""
        self._workers.update(labels)

    def clear(self) -> None:
        """A new run: no calls, no totals."""
        self._workers.clear()
        self._table.clear()
        self._totals = ({}, 0, 0)
        if self.is_mounted:
            self.show_totals({}, 0, 0)
            self.query_one("#detail", Static).update("")

    @property
    def calls(self) -> list[tuple[str, Any]]:
        """The calls kept (oldest first), before the filter."""
        return self._table.payloads()

    def show_totals(self, api_counts: Mapping[str, int], nan_total: int, inf_total: int) -> None:
        """Cumulative counters from the router (calls per API, NaN/Inf over all tensors)."""
        self._totals = (api_counts, nan_total, inf_total)
        self.set_class(bool(nan_total or inf_total), "-nonfinite")
        if self.is_mounted:
            self._paint_totals()

    def _paint_totals(self) -> None:
        api_counts, nan_total, inf_total = self._totals
        total = sum(api_counts.values())
        totals = Text(f"{total} calls · " if total else "no calls yet · ")
        totals.append(f"NaN {nan_total}", style="bold red reverse" if nan_total else "")
        totals.append(" · ")
        totals.append(f"Inf {inf_total}", style="bold red reverse" if inf_total else "")
        self.query_one("#totals", StatusLine).update(totals)
        top = sorted(api_counts.items(), key=lambda kv: -kv[1])
        self.query_one("#counts", StatusLine).update(" · ".join(f"{name} ×{count}" for name, count in top))

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._pattern = event.value.strip()
        self._table.set_filter(None if not self._pattern else lambda p: self._matches(p[1].api_name))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._table.focus()

    def on_ring_table_highlighted(self, event: RingTable.Highlighted) -> None:
        event.stop()
        stream, call = event.payload
        self.query_one("#detail", Static).update(call_detail(stream, call, self._workers.get(stream, "")))

    def action_focus_filter(self) -> None:
        self.query_one("#api-filter", Input).focus()


def call_cells(call: Any) -> Sequence[Text | str]:
    """One call as table cells: index, API (indented by depth), status, NaN and Inf counts."""
    nan, inf = call.nan_total(), call.inf_total()
    bad = "bold red"
    status = call_status(call)
    return (str(call.index), "  " * call.depth + call.api_name, Text(status, style=bad if status != "ok" else ""),
            Text(str(nan), style=bad if nan else "dim"), Text(str(inf), style=bad if inf else "dim"))

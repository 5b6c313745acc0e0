"""ProcessView: the child's process tree (CPU, RSS, threads, open files), and how it ended.

A snapshot arrives every second: the tree is a :class:`RingTable` and the summary a
:class:`StatusLine`, so an update repaints without a layout of the screen.  Updates given
before the view is first shown are kept and drawn when it is composed.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.widgets.gpu_view import GpuView
from tui.widgets.ring_table import Column, RingTable
from tui.widgets.status_line import StatusLine

COLUMNS = (Column("pid", 7, right=True), Column("process"), Column("status", 9), Column("CPU %", 6, right=True),
           Column("RSS MiB", 8, right=True), Column("thr", 4, right=True), Column("files", 5, right=True))



def _mib(rss: int | None) -> str:
    return "?" if rss is None else f"{rss / 2**20:.1f}"


class ProcessView(Vertical):
    """A summary line, the tree table (one row per process, indented by depth), the exit line,
    and the GPUs (NVML; one line where there is none)."""

    DEFAULT_CSS = """
    ProcessView {
        height: 1fr;
        & > .summary { height: 1; width: 1fr; }
        & > .exit { height: auto; width: 1fr; }
        & > RingTable { height: 1fr; }
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._table = RingTable(COLUMNS, max_rows=2000, id="procs")
        self._table.follow = False
        self._summary = "no process yet"
        self._exit: Text = Text("")
        self._gpu = GpuView(id="gpu-view")

    def compose(self) -> ComposeResult:
        yield StatusLine(self._summary, classes="summary", id="summary")
        yield self._table
        yield Static(self._exit, classes="exit", id="exit", markup=False)
        yield self._gpu

    @property
    def table(self) -> RingTable:
        return self._table

    @property
    def summary(self) -> str:
        """The one-line tree summary (kept before the view is first shown)."""
        return self._summary

    @property
    def gpu(self) -> GpuView:
        """The GPU panel (exists before the view is first shown; samples once composed)."""
        return self._gpu

    def show_snapshot(self, snap: Any) -> None:
        """A ``procmon.TreeSnapshot``; the table is refilled (trees are small), the cursor stays."""
        table = self._table
        cursor = table.cursor_row
        table.clear()
        table.follow = False
        table.append_rows(
            (p.pid, (str(p.pid), "  " * p.depth + p.name, p.status, "?" if p.cpu_percent is None else f"{p.cpu_percent:.0f}",
                     _mib(p.rss), "?" if p.threads is None else str(p.threads),
                     "?" if p.open_files is None else str(p.open_files)))
            for p in snap.procs
        )
        if table.row_count:
            table.move_cursor(max(0, min(cursor, table.row_count - 1)))
        self._gpu.watch_run(snap.root_pid, (p.pid for p in snap.procs))
        alive = "alive" if snap.alive else "gone"
        self._summary = (f"root pid {snap.root_pid} ({alive}) · {len(snap.procs)} processes · CPU "
                         f"{snap.total_cpu_percent:.0f}% · RSS {_mib(snap.total_rss)} MiB · {snap.total_threads} threads")
        if self.is_mounted:
            self.query_one("#summary", StatusLine).update(self._summary)

    def show_exit(self, status: Any | None, text: str = "") -> None:
        """The decoded exit (``supervisor.ExitStatus``), or a state line such as ``running``."""
        if status is None:
            line, failed = Text(text), False
        else:
            failed = not status.ok
            code = "" if status.ok or status.signal is None else f" · shell exit code {status.exit_code}"
            line = Text(f"exit: {status.description}{code}", style="bold red" if failed else "bold")
        self.set_class(failed, "-failed")
        if line == self._exit:
            return
        self._exit = line
        if self.is_mounted:
            self.query_one("#exit", Static).update(line)

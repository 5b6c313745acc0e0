"""ProcessView: the child's process tree (CPU, RSS, threads, open files), and how it ended."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label

from tui.widgets.gpu_view import GpuView


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
        & > DataTable { height: 1fr; }
    }
    """

    def compose(self) -> ComposeResult:
        yield Label("no process yet", classes="summary", id="summary", markup=False)
        yield DataTable(id="procs", cursor_type="row")
        yield Label("", classes="exit", id="exit")
        yield GpuView(id="gpu-view")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("pid", "process", "status", "CPU %", "RSS MiB", "thr", "files")

    def show_snapshot(self, snap: Any) -> None:
        """A ``procmon.TreeSnapshot``; the table is rebuilt (trees are small)."""
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear()
        for p in snap.procs:
            cpu = "?" if p.cpu_percent is None else f"{p.cpu_percent:.0f}"
            table.add_row(str(p.pid), "  " * p.depth + p.name, p.status, cpu, _mib(p.rss),
                          "?" if p.threads is None else str(p.threads),
                          "?" if p.open_files is None else str(p.open_files), key=str(p.pid))  # fmt: skip
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        self.query_one(GpuView).watch_run(snap.root_pid, (p.pid for p in snap.procs))
        alive = "alive" if snap.alive else "gone"
        self.query_one("#summary", Label).update(
            f"root pid {snap.root_pid} ({alive}) · {len(snap.procs)} processes · CPU "
            f"{snap.total_cpu_percent:.0f}% · RSS {_mib(snap.total_rss)} MiB · {snap.total_threads} threads")

    def show_exit(self, status: Any | None, text: str = "") -> None:
        """The decoded exit (``supervisor.ExitStatus``), or a state line such as ``running``."""
        label = self.query_one("#exit", Label)
        if status is None:
            label.update(Text(text))
            self.remove_class("-failed")
            return
        ok = bool(status.ok)
        code = "" if ok or status.signal is None else f" · shell exit code {status.exit_code}"
        line = Text(f"exit: {status.description}{code}", style="bold" if ok else "bold red")
        label.update(line)
        self.set_class(not ok, "-failed")

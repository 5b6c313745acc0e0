"""GpuView: the GPUs under the process tree, the way nvitop shows them: per device memory,
utilisation, temperature and power, and the GPU memory of each process of the run.

Sampling (``tui.gpu.GpuSampler``, NVML) runs in a thread worker at ``interval`` seconds, so a slow
driver call never blocks a key.  Where NVML is absent the whole view is one line.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label

from tui.gpu import ABSENT_LINE, GpuSample, GpuSampler, NvmlAbsent


def _opt(value: float | int | None, fmt: str) -> str:
    return "?" if value is None else fmt.format(value)


class GpuView(Vertical):
    """A title line and one table: a row per device, then a row per GPU process (the run's first)."""

    DEFAULT_CSS = """
    GpuView {
        height: auto;
        max-height: 12;
        & > .gpu-title { height: 1; width: 1fr; }
        & > DataTable { height: auto; max-height: 11; }
        &.-absent > DataTable { display: none; }
    }
    """

    def __init__(self, sampler: GpuSampler | None = None, interval: float = 1.0, **kwargs: object) -> None:
        """Args:
            sampler: the NVML sampler (the app keeps it for the crash report); a new one when None.
            interval: seconds between samples (1–2 Hz keeps it live at no cost).
        """
        super().__init__(**kwargs)  # type: ignore[arg-type]  # Textual's keywords, passed through
        self.sampler = sampler or GpuSampler()
        self.interval = interval
        self.run_pids: frozenset[int] = frozenset()
        """The processes of the run (set from the process tree snapshots)."""
        self._stop = threading.Event()
        self._root_pid: int | None = None
        self._row_keys: list[str] = []
        self._column_keys: list[Any] = []
        self._title = ""

    def compose(self) -> ComposeResult:
        yield Label("GPU: sampling…", classes="gpu-title", id="gpu-title", markup=False)
        yield DataTable(id="gpu-table", cursor_type="none", show_cursor=False)

    def on_mount(self) -> None:
        self._column_keys = self.query_one(DataTable).add_columns(
            "GPU", "device / pid", "memory MiB", "util %", "temp °C", "power W")
        absent = self.sampler.probe()  # no driver: said at once (no thread, no pynvml import)
        if absent is not None:
            self.show_absent(absent)
        else:
            self._sample_loop()

    def on_unmount(self) -> None:
        self._stop.set()

    def watch_run(self, root_pid: int, pids: Iterable[int]) -> None:
        """The run's process tree changed (a new run resets the peaks)."""
        if root_pid != self._root_pid:
            self._root_pid = root_pid
            self.sampler.reset_peaks()
        self.run_pids = frozenset(pids)

    @work(thread=True, exclusive=True, group="gpu-sampler")
    def _sample_loop(self) -> None:
        while not self._stop.is_set():
            try:
                sample = self.sampler.sample(self.run_pids)
            except NvmlAbsent as exc:
                self.app.call_from_thread(self.show_absent, str(exc))
                return
            except Exception as exc:  # a driver hiccup must not end the view: say it, try again
                self.app.call_from_thread(self.show_error, f"GPU: sampling failed: {exc}")
            else:
                if self._stop.is_set():
                    return
                self.app.call_from_thread(self.show_sample, sample)
            self._stop.wait(self.interval)

    def show_absent(self, line: str) -> None:
        """One line; NVML's own reason (machine-specific) goes in the tooltip."""
        self.add_class("-absent")
        title = self.query_one("#gpu-title", Label)
        title.update(ABSENT_LINE)
        title.tooltip = line

    def show_error(self, line: str) -> None:
        self.query_one("#gpu-title", Label).update(line)

    def show_sample(self, sample: GpuSample) -> None:
        """One NVML sample.  Same rows as before (the usual case): cells are updated in place, so a
        1 Hz refresh repaints the table without a layout of the screen; otherwise it is rebuilt."""
        rows: dict[str, tuple[str, ...]] = {}
        for d in sample.devices:
            power = "?" if d.power_watts is None else f"{d.power_watts:.0f}" + (
                "" if d.power_limit_watts is None else f" / {d.power_limit_watts:.0f}")
            rows[f"dev-{d.index}"] = (str(d.index), d.name, f"{d.memory_used / 2**20:.0f} / {d.memory_total / 2**20:.0f}",
                                      _opt(d.utilization, "{}"), _opt(d.temperature, "{}"), power)
        for p in sorted(sample.processes, key=lambda p: (not p.in_run, p.device, p.pid)):
            held = "?" if p.memory_used is None else f"{p.memory_used / 2**20:.0f}"
            label = f"  pid {p.pid}" + (" (run)" if p.in_run else "")
            rows[f"pid-{p.pid}-{p.device}"] = (str(p.device), label, held, "", "", "")
        table = self.query_one(DataTable)
        if list(rows) == self._row_keys:
            for key, row in rows.items():
                for column, value in zip(self._column_keys, row, strict=True):
                    if table.get_cell(key, column) != value:
                        table.update_cell(key, column, value)
        else:
            table.clear()
            for key, row in rows.items():
                table.add_row(*row, key=key)
            self._row_keys = list(rows)
        ours = sample.run_processes()
        total = sum(p.memory_used or 0 for p in ours)
        title = (f"GPU: {len(sample.devices)} device(s) · {len(ours)} process(es) of the run"
                 + (f" using {total / 2**20:.0f} MiB" if ours else ""))
        if title != self._title:
            self._title = title
            self.query_one("#gpu-title", Label).update(title)

"""GpuView: one line where NVML is absent (real, on this machine), the table where it answers."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import DataTable

from tests.console_helpers import pilot_wait_until
from tests.test_gpu import MIB, FakeNvml, _nvml_works
from tui.gpu import ABSENT_LINE, GpuSampler
from tui.widgets.gpu_view import GpuView
from tui.widgets.process_view import ProcessView


class Host(App[None]):
    def __init__(self, view: GpuView | ProcessView) -> None:
        super().__init__()
        self.view = view

    def compose(self) -> ComposeResult:
        yield self.view


async def test_absent_nvml_hides_the_table_behind_one_line() -> None:
    if _nvml_works():
        return  # a machine with a driver shows the table; covered by the device run
    app = Host(ProcessView())
    async with app.run_test(size=(100, 30)) as pilot:
        gpu = app.query_one(GpuView)
        await pilot_wait_until(pilot, lambda: gpu.has_class("-absent"))
        title = gpu.query_one("#gpu-title")
        assert str(title.render()) == ABSENT_LINE and str(title.tooltip).startswith(ABSENT_LINE + " (NVML: ")
        assert not gpu.query_one(DataTable).display


async def test_samples_fill_the_table_with_the_run_first() -> None:
    nvml = FakeNvml([(5000 * MIB, [(99, 50 * MIB), (10, 4000 * MIB)])] * 1000)
    view = GpuView(sampler=GpuSampler(nvml), interval=0.05)
    app = Host(view)
    async with app.run_test(size=(100, 30)) as pilot:
        view.watch_run(10, [10, 11])
        table = view.query_one(DataTable)
        await pilot_wait_until(pilot, lambda: table.row_count >= 3 and "(run)" in str(table.get_row_at(1)))
        assert table.get_row_at(0) == ["0", "NVIDIA H200", "5000 / 143771", "97", "41", "412"]
        assert table.get_row_at(1)[:3] == ["0", "  pid 10 (run)", "4000"]
        assert table.get_row_at(2)[:3] == ["0", "  pid 99", "50"]
        assert "1 process(es) of the run using 4000 MiB" in str(view.query_one("#gpu-title").render())
        nvml.script[nvml.step + 1:] = [(6000 * MIB, [(99, 50 * MIB), (10, 5000 * MIB)])] * 100  # same rows, new figures
        await pilot_wait_until(pilot, lambda: table.get_row_at(1)[2] == "5000")
        assert table.get_row_at(0)[2] == "6000 / 143771" and table.row_count == 3

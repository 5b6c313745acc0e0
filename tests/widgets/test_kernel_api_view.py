"""KernelApiView: one row per block, in-flight calls, NaN/Inf highlighted, filter, calls per API."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from tests.demo import feed, run_lines
from tui.router import Router
from tui.widgets.kernel_api_view import KernelApiView
from tui.widgets.ring_table import RingTable

DATA = Path(__file__).resolve().parents[1] / "data"


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield KernelApiView()

    def show(self, router: Router) -> None:
        batch = router.drain()
        view = self.query_one(KernelApiView)
        view.add_calls(batch.kernel_calls)
        view.show_totals(batch.api_counts, batch.nan_total, batch.inf_total)


async def test_blocks_nan_totals_in_flight_call_and_filter() -> None:
    router, app = Router(), Host()
    async with app.run_test(size=(100, 30)) as pilot:
        feed(router, run_lines(4, nan_step=2, crash_in="backend.vae.decode_conv"))
        router.end_stream("stdout")
        app.show(router)
        await pilot.pause()
        view = app.query_one(KernelApiView)
        table = view.query_one("#calls", RingTable)
        rows = [table.get_row_at(i) for i in range(table.row_count)]
        assert [str(r[1]).strip() for r in rows] == ["backend.attention.sdpa"] * 4 + [
            "backend.vae.decode_conv"
        ]
        assert str(rows[-1][2]) == "IN FLIGHT" and str(rows[1][3]) == "6"
        assert view.has_class("-nonfinite") and "NaN 6" in str(view.query_one("#totals").render())
        assert "backend.attention.sdpa ×4" in str(view.query_one("#counts").render())
        table.move_cursor(row=4)
        await pilot.pause()
        assert "backend.vae.decode_conv" in str(view.query_one("#detail").render())
        view.query_one("#api-filter").focus()
        await pilot.press(*"*vae*")
        await pilot.pause()
        assert table.row_count == 1


async def test_real_sglang_level10_log_parses_into_blocks() -> None:
    router, app = Router(), Host()
    async with app.run_test(size=(100, 30)) as pilot:
        router.feed("file:kernel.log", (DATA / "sglang_kernel_api_level10.log").read_text().splitlines())
        router.end_stream("file:kernel.log")
        app.show(router)
        await pilot.pause()
        assert app.query_one("#calls", RingTable).row_count >= 2

"""TimingsView: stage table, per-step chart, progress bar, history with deltas, cache hit ratio."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import ProgressBar, Sparkline

from tests.demo import feed, run_lines
from tui.router import Router
from tui.widgets.ring_table import RingTable
from tui.widgets.timings_view import TimingsView, cache_hit_text

DATA = Path(__file__).resolve().parents[1] / "data"


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield TimingsView()

    def show(self, router: Router) -> None:
        batch = router.drain()
        view = self.query_one(TimingsView)
        view.show_history(batch.finished_requests)
        view.show_current(batch.current)


async def test_progress_bar_moves_during_denoising() -> None:
    router, app = Router(), Host()
    lines = list(run_lines(8, kernel=False))
    cut = next(i for i, (_, line) in enumerate(lines) if " 4/8 " in line) + 1
    async with app.run_test(size=(80, 24)) as pilot:
        feed(router, iter(lines[:cut]))
        app.show(router)
        await pilot.pause()
        bar = app.query_one(ProgressBar)
        assert bar.total == 8 and bar.progress == 4
        assert "denoising step 4/8" in str(app.query_one("#progress-label").render())


async def test_two_runs_give_stage_table_chart_history_deltas_and_cache_ratio() -> None:
    router, app = Router(), Host()
    async with app.run_test(size=(80, 24)) as pilot:
        feed(router, run_lines(8, kernel=False, base_ms=10.0))
        app.show(router)
        feed(router, run_lines(8, kernel=False, base_ms=5.0, cache=True))
        app.show(router)
        await pilot.pause()
        stages = app.query_one("#stages", RingTable)
        names = [str(stages.get_row_at(i)[0]) for i in range(stages.row_count)]
        assert names == ["InputValidationStage", "TextEncodingStage", "DenoisingStage", "DecodingStage"]
        denoise = stages.get_row_at(2)
        assert denoise[1] == "done" and denoise[3] == "-50%", "delta against the previous run"
        history = app.query_one("#history", RingTable)
        assert history.row_count == 2 and str(history.get_row_at(1)[2]).startswith("-")
        assert str(history.get_row_at(1)[4]) == "25% (2/8 steps)"
        assert len(app.query_one(Sparkline).data) == 8
        assert "cache hit 25%" in str(app.query_one("#summary").render())


async def test_real_sglang_performance_log_shows_exact_steps() -> None:
    router, app = Router(), Host()
    async with app.run_test(size=(80, 24)) as pilot:
        router.feed("file:performance.log", (DATA / "sglang_performance.log").read_text().splitlines())
        app.show(router)
        await pilot.pause()
        assert app.query_one("#history", RingTable).row_count == 2
        assert list(app.query_one(Sparkline).data) == [500.0, 500.0]


def test_cache_hit_text_shapes() -> None:
    assert cache_hit_text(None) == ""
    assert cache_hit_text({"hit_ratio": 0.4}) == "cache hit 40%"
    assert (
        cache_hit_text({"hit_ratio": 0.25, "cached_steps": 2, "computed_steps": 6})
        == "cache hit 25% (2/8 steps)"
    )
    assert cache_hit_text({"cached_steps": 3, "total_steps": 12}) == "cache hit 25% (3/12 steps)"


async def test_updates_before_the_view_is_shown_are_drawn_when_it_is_composed() -> None:
    """The console composes a view on its first show: what arrived before is not lost."""
    router = Router()
    view = TimingsView()
    feed(router, run_lines(8, kernel=False, base_ms=10.0))
    batch = router.drain()
    view.show_history(batch.finished_requests)
    view.show_current(batch.current)

    class Late(App[None]):
        def compose(self) -> ComposeResult:
            yield view

    async with Late().run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert view.query_one("#history", RingTable).row_count == 1
        assert view.query_one("#stages", RingTable).row_count == 4
        assert "request #1 done" in str(view.query_one("#progress-label").render())
        view.clear()
        await pilot.pause()
        assert view.query_one("#stages", RingTable).row_count == 0, "a new run starts with no stages"
        assert view.query_one("#history", RingTable).row_count == 1, "the session's history stays"


def test_history_is_bounded() -> None:
    router, view = Router(), TimingsView(max_history=5)
    for _ in range(8):
        feed(router, run_lines(2, kernel=False))
        view.show_history(router.drain().finished_requests)
    table = view.history_table
    assert table.total_rows <= 6 and table.payloads()[-1].index == 7


async def test_a_request_done_without_step_times_hides_the_chart_and_says_how_to_get_them() -> None:
    from backend.envs import STAGE_LOGGING
    from tui.routed import RequestTimings, StageRow

    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TimingsView)
        running = RequestTimings(index=0, started_at=0.0, stages=[StageRow("DenoisingStage", 0.0)])
        view.show_current(running)
        await pilot.pause()
        assert not app.query_one(Sparkline).display
        assert "no steps yet" in str(app.query_one("#summary").render())
        done = RequestTimings(index=0, started_at=0.0, stages=[StageRow("DenoisingStage", 0.0, 0.14)], finished=True)
        view.show_current(done)
        await pilot.pause()
        assert not app.query_one(Sparkline).display, "a chart of one zero is drawn as a full block"
        assert f"{STAGE_LOGGING.name}=1" in str(app.query_one("#summary").render())


async def test_each_workers_requests_are_named_in_the_history_and_the_label() -> None:
    """``--num-workers 2``: the history says which worker ran each request (``w1``), and the current
    request's label names its worker as the engine labels it (rank, pid, device)."""
    from backend.records import (
        PerfRecord,
        StageTiming,
        format_log_line,
        request_started_message,
        stage_finished_message,
        stage_started_message,
    )

    router, app = Router(), Host()
    for rank in (1, 0):
        tag = f"DP{rank}"
        router.feed("stdout", [format_log_line(request_started_message(f"r-{rank}", "1 image(s)"), tag=tag),
                               format_log_line(stage_started_message("DenoisingStage"), tag=tag),
                               format_log_line(stage_finished_message("DenoisingStage", 0.2), tag=tag)])
        record = PerfRecord(f"r-{rank}", "2026-11-26T00:00:00+00:00", "N/A", "pipeline_stage_metrics",
                            (StageTiming("DenoisingStage", 200.0),), (100.0, 100.0), 200.0)
        router.feed("file:performance.log", [record.to_json_line()])
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(TimingsView)
        view.show_workers({0: "worker 0 (pid 11, cuda:0)", 1: "worker 1 (pid 12, cuda:1)"})
        app.show(router)
        await pilot.pause()
        history = app.query_one("#history", RingTable)
        assert [str(history.get_row_at(i)[0]) for i in range(history.row_count)] == ["#1 w1", "#2 w0"]
        assert "request #2 done in 0.200 s · worker 0 (pid 11, cuda:0)" in str(
            app.query_one("#progress-label").render())

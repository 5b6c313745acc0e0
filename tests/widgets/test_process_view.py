"""ProcessView: the tree with CPU, RSS, threads, files; the exit decoded."""

from __future__ import annotations

import signal

from textual.app import App, ComposeResult

from tests.demo import process_snapshot
from tui.supervisor import ExitStatus
from tui.widgets.process_view import ProcessView
from tui.widgets.ring_table import RingTable


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield ProcessView()


async def test_tree_rows_and_decoded_signal_exit() -> None:
    app = Host()
    async with app.run_test(size=(90, 20)) as pilot:
        view = app.query_one(ProcessView)
        view.show_snapshot(process_snapshot(100))
        view.show_exit(ExitStatus.decode(-signal.SIGSEGV))
        await pilot.pause()
        table = view.query_one(RingTable)
        assert table.row_count == 3 and str(table.get_row_at(1)[1]) == "  worker-0"
        assert str(table.get_row_at(0)[4]) == "812.5" and str(table.get_row_at(0)[5]) == "14"
        assert "3 processes" in str(view.query_one("#summary").render())
        assert view.has_class("-failed") and "SIGSEGV" in str(view.query_one("#exit").render())

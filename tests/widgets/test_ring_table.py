"""RingTable: bounded rows, eviction with a filter, a cursor that follows, no screen relayout per batch."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.screen import Screen

from tui.widgets.ring_table import Column, RingTable

COLUMNS = (Column("#", 6, right=True), Column("name"), Column("n", 4, right=True))


def rows(start: int, count: int) -> list[tuple[int, tuple[str, str, str]]]:
    return [
        (i, (str(i), f"api.{'even' if i % 2 == 0 else 'odd'}", str(i % 7)))
        for i in range(start, start + count)
    ]


class Host(App[None]):
    def __init__(self, max_rows: int = 100) -> None:
        super().__init__()
        self.max_rows = max_rows

    def compose(self) -> ComposeResult:
        yield RingTable(COLUMNS, max_rows=self.max_rows)


def screen_text(table: RingTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


def test_rows_are_bounded_and_the_newest_are_kept() -> None:
    table = RingTable(COLUMNS, max_rows=1000)
    for start in range(0, 12_000, 300):
        table.append_rows(rows(start, 300))
    assert 1000 <= table.total_rows <= 1100
    assert table.payloads()[-1] == 11_999
    assert table.payloads() == list(range(12_000 - table.total_rows, 12_000))


def test_filter_survives_eviction_and_the_cursor_keeps_its_row() -> None:
    table = RingTable(COLUMNS, max_rows=500)
    table.append_rows(rows(0, 400))
    table.set_filter(lambda p: p % 2 == 0)
    assert table.row_count == 200 and all(table.row(i).payload % 2 == 0 for i in range(table.row_count))
    table.move_cursor(10)  # payload 20; follow is off now
    assert table.cursor_payload == 20 and not table.follow
    table.append_rows(rows(400, 300))  # evicts payloads below ~200; row 20 is gone, the cursor clamps
    assert all(table.row(i).payload % 2 == 0 for i in range(table.row_count))
    assert table.row(0).payload == table.payloads()[0] + table.payloads()[0] % 2
    table.set_filter(None)
    assert table.row_count == table.total_rows


def test_cursor_follows_new_rows_until_moved_up_and_end_resumes() -> None:
    table = RingTable(COLUMNS, max_rows=1000)
    table.append_rows(rows(0, 50))
    assert table.cursor_payload == 49 and table.follow
    table.move_cursor(5)
    table.append_rows(rows(50, 50))
    assert table.cursor_payload == 5
    table.action_last()
    table.append_rows(rows(100, 5))
    assert table.cursor_payload == 104 and table.follow


def test_clear_forgets_rows_and_keeps_the_filter() -> None:
    table = RingTable(COLUMNS)
    table.set_filter(lambda p: p > 3)
    table.append_rows(rows(0, 10))
    table.clear()
    assert table.total_rows == 0 and table.row_count == 0 and table.cursor_payload is None
    table.append_rows(rows(0, 6))
    assert [table.row(i).payload for i in range(table.row_count)] == [4, 5]


async def test_drawn_rows_header_and_no_screen_layout_per_batch() -> None:
    app = Host(max_rows=200)
    layouts: list[int] = []
    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(RingTable)
        screen: Screen[Any] = app.screen
        original = screen._refresh_layout

        def counted(*args: Any, **kwargs: Any) -> None:  # a spy on the real method, not a mock
            layouts.append(1)
            original(*args, **kwargs)

        screen._refresh_layout = counted  # type: ignore[method-assign]
        table.append_rows(rows(0, 20))  # the scrollbar is always there: no layout even for the first rows
        await pilot.pause()
        before = len(layouts)
        for start in range(20, 2020, 100):
            table.append_rows(rows(start, 100))
            await pilot.pause()
        assert len(layouts) == before, "appending rows relaid out the screen"
        lines = screen_text(table)
        assert lines[0].split()[:3] == ["#", "name", "n"]
        assert lines[-1].split()[:2] == ["2019", "api.odd"], "following: the newest row is on screen"
        table.focus()
        await pilot.press("home")
        assert screen_text(table)[1].split()[0] == str(table.payloads()[0])
        assert table.cursor_row == 0 and not table.follow


async def test_cells_given_as_a_function_are_made_only_for_rows_drawn() -> None:
    app = Host(max_rows=5000)
    made: list[int] = []

    def lazy(i: int) -> tuple[str, str, str]:
        made.append(i)
        return (str(i), f"api.{i}", "0")

    async with app.run_test(size=(60, 12)) as pilot:
        table = app.query_one(RingTable)
        table.append_rows((i, lambda i=i: lazy(i)) for i in range(3000))
        await pilot.pause()
        lines = screen_text(table)
        assert lines[-1].split()[:2] == ["2999", "api.2999"]
        assert 0 < len(made) <= 2 * table.size.height, "only the rows on screen were formatted"
        assert set(made) <= set(range(2900, 3000))
        assert table.get_row_at(0) == ("0", "api.0", "0") and made.count(0) == 1
        table.get_row_at(0)
        assert made.count(0) == 1, "made once, then kept"

"""ShownRepaint: a status line or a table updated while another view shows takes no frame, and
shows what it was given the moment it is shown."""

from __future__ import annotations

from typing import Any

from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Static

from tui.widgets.ring_table import Column, RingTable
from tui.widgets.status_line import StatusLine


class Views(App[None]):
    def compose(self) -> ComposeResult:
        with ContentSwitcher(initial="shown"):  # views hide as a whole, their parts stay displayed
            yield Static("the view on screen", id="shown")
            with Vertical(id="status-view"):
                yield StatusLine("first")
            with Vertical(id="table-view"):
                yield RingTable((Column("#", 6), Column("name")))


def on_screen(app: App[None]) -> str:
    """The screen as the terminal would show it (the SVG export, its spaces unescaped)."""
    return app.export_screenshot().replace("&#160;", " ")


def frames(screen: Screen[Any]) -> list[int]:
    """Counts the screen's compositor refreshes (a spy on the real method, not a mock)."""
    seen: list[int] = []
    real = screen._compositor_refresh

    def counted() -> None:
        seen.append(1)
        real()

    screen._compositor_refresh = counted  # type: ignore[method-assign]
    return seen


async def test_updates_while_hidden_take_no_frame_and_show_on_show() -> None:
    app = Views()
    async with app.run_test(size=(40, 8)) as pilot:
        status, table = app.query_one(StatusLine), app.query_one(RingTable)
        await pilot.pause()
        seen = frames(app.screen)
        for i in range(5):
            status.update(f"batch {i}")
            table.append_rows([(n, (str(n), f"api.{n}")) for n in range(i * 10, i * 10 + 10)])
            await pilot.pause()
        assert seen == [], "hidden widgets asked for frames"
        app.query_one(ContentSwitcher).current = "status-view"
        await pilot.pause()
        await pilot.pause()
        assert str(status.render()) == "batch 4" and "batch 4" in on_screen(app)
        app.query_one(ContentSwitcher).current = "table-view"
        await pilot.pause()
        await pilot.pause()
        lines = [table.render_line(y).text for y in range(table.size.height)]
        assert lines[-1].split()[:2] == ["49", "api.49"], "following: scrolled to the newest row once shown"


async def test_an_update_on_screen_is_drawn_in_the_next_frame() -> None:
    app = Views()
    async with app.run_test(size=(40, 8)) as pilot:
        app.query_one(ContentSwitcher).current = "status-view"
        await pilot.pause()
        seen = frames(app.screen)
        app.query_one(StatusLine).update("now")
        await pilot.pause()
        assert seen and "now" in on_screen(app)

"""AttentionView: reload time and diff, the error with its line, the resident-backend note."""

from __future__ import annotations

from textual.app import App, ComposeResult

from tests.demo import reload_event
from tui.widgets.attention_view import RESIDENT_NOTE, AttentionView


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield AttentionView()


async def test_reload_diff_error_and_note() -> None:
    app = Host()
    async with app.run_test(size=(80, 20)) as pilot:
        view = app.query_one(AttentionView)
        view.show_event(reload_event(ok=True), resident=True)
        await pilot.pause()
        assert "reloaded at 12:00:05" in str(view.query_one("#status").render())
        assert "~ sparsity: 0.25 -> 0.5" in str(view.query_one("#diff").render())
        assert str(view.query_one("#note").render()) == RESIDENT_NOTE
        view.show_event(reload_event(ok=False), resident=True)
        await pilot.pause()
        status = str(view.query_one("#status").render())
        assert view.has_class("-error") and "line 2:" in status and "keeping the last good config" in status
        assert str(view.query_one("#note").render()) == ""

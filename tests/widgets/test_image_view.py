"""ImageView: preview of the last output (half-block forced), its path and upload URL."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult

from tests.demo import write_png
from tui.widgets.half_block_picture import HalfBlockPicture
from tui.widgets.image_view import ImageView


class Host(App[None]):
    def compose(self) -> ComposeResult:
        yield ImageView(half_block=True)


async def test_preview_path_and_url(tmp_path: Path) -> None:
    path = write_png(str(tmp_path / "out.png"))
    app = Host()
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(ImageView)
        view.show_output(path)
        view.show_upload(path, "http://127.0.0.1:9000/bucket/out.png")
        await pilot.pause()
        assert view.query(HalfBlockPicture)
        picture = view.query_one(HalfBlockPicture)
        cells = picture.render_line(0)
        assert "▀" in cells.text and any(seg.style and seg.style.bgcolor for seg in cells), "pixels drawn"
        assert path in str(view.query_one("#path").render())
        assert "http://127.0.0.1:9000/bucket/out.png" in str(view.query_one("#url").render())
        view.show_output(str(tmp_path / "missing.png"))
        await pilot.pause()
        assert not view.query(HalfBlockPicture)

"""OutputView: stderr marked, ANSI kept, follow, pause with a count, filter (inverted), search, save, copy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult

from tui.router import Router
from tui.widgets.output_log import OutputLog
from tui.widgets.output_view import OutputView


class OutputApp(App[None]):
    def __init__(self, save_dir: str) -> None:
        super().__init__()
        self.router = Router()
        self.copied: list[str] = []
        self.save_dir = save_dir

    def compose(self) -> ComposeResult:
        yield OutputView(save_dir=self.save_dir)

    def feed(self, stream: str, lines: list[str]) -> None:
        self.router.feed(stream, lines)
        self.query_one(OutputView).add_lines(self.router.drain().lines)

    def copy_to_clipboard(self, text: str) -> None:
        self.copied.append(text)


def status(app: Any) -> str:
    return str(app.query_one("#status").render())


async def test_lines_render_with_stderr_gutter_and_ansi_colours(tmp_path: Path) -> None:
    app = OutputApp(str(tmp_path))
    async with app.run_test(size=(80, 20)) as pilot:
        app.feed("stdout", ["plain line", "\x1b[31mred line\x1b[0m"])
        app.feed("stderr", ["an error"])
        await pilot.pause()
        log = app.query_one(OutputLog)
        strips = [log.render_line(y) for y in range(3)]
        texts = ["".join(seg.text for seg in strip) for strip in strips]
        assert texts[1].strip() == "red line" and "\x1b" not in texts[1]
        assert any(seg.style and seg.style.color and seg.style.color.number == 1 for seg in strips[1]), "ANSI red kept"
        assert texts[2].startswith("▌") and texts[0].startswith(" "), "stderr lines carry a gutter mark"


async def test_follow_pauses_on_scroll_up_and_counts_new_lines(tmp_path: Path) -> None:
    app = OutputApp(str(tmp_path))
    async with app.run_test(size=(80, 20)) as pilot:
        app.feed("stdout", [f"line {i}" for i in range(200)])
        await pilot.pause()
        log = app.query_one(OutputLog)
        assert log.follow and log.scroll_y == log.max_scroll_y
        log.focus()
        await pilot.press("pageup")
        await pilot.pause()
        assert not log.follow
        app.feed("stdout", [f"more {i}" for i in range(7)])
        await pilot.pause()
        assert log.unseen == 7 and "7 new lines" in status(app)
        await pilot.press("end")
        await pilot.pause()
        assert log.follow and log.unseen == 0 and log.scroll_y == log.max_scroll_y


async def test_regex_filter_inverted_and_search_next_previous(tmp_path: Path) -> None:
    app = OutputApp(str(tmp_path))
    async with app.run_test(size=(80, 20)) as pilot:
        app.feed("stdout", [f"{'stage' if i % 10 == 0 else 'noise'} {i}" for i in range(100)])
        await pilot.pause()
        log = app.query_one(OutputLog)
        log.focus()
        await pilot.press("slash", *"^stage", "enter")
        await pilot.pause()
        assert len(log.shown_lines) == 10
        await pilot.press("i")
        await pilot.pause()
        assert len(log.shown_lines) == 90 and all("noise" in ln.plain for ln in log.shown_lines)
        await pilot.press("s", *"[27]7$", "enter")
        await pilot.pause()
        log.focus()
        await pilot.press("n")
        assert "match 2/2" in status(app)
        await pilot.press("N")
        assert "match 1/2" in status(app)
        await pilot.press("y")
        assert app.copied and app.copied[-1] in ("noise 27", "noise 77")


async def test_bad_regex_says_so_and_save_writes_the_filtered_lines(tmp_path: Path) -> None:
    app = OutputApp(str(tmp_path))
    async with app.run_test(size=(80, 20)) as pilot:
        app.feed("stdout", ["alpha", "beta", "gamma"])
        app.query_one(OutputLog).focus()
        await pilot.press("slash", "(")
        await pilot.pause()
        assert "bad regex" in status(app)
        await pilot.press("backspace", *"a$", "enter", "w")
        await app.workers.wait_for_complete()
        await pilot.pause()
        saved = list(tmp_path.glob("output-*.log"))
        assert len(saved) == 1 and saved[0].read_text().split() == ["alpha", "beta", "gamma"]


async def test_buffer_is_bounded(tmp_path: Path) -> None:
    app = OutputApp(str(tmp_path))
    async with app.run_test(size=(80, 20)):
        log = app.query_one(OutputLog)
        log.max_lines = 1000
        for chunk in range(5):
            app.feed("stdout", [f"{chunk}-{i}" for i in range(500)])
        assert len(log.shown_lines) <= 1100 and log.shown_lines[-1].plain == "4-499"


async def test_carriage_return_redraws_the_line_like_a_terminal(tmp_path: Path) -> None:
    """tqdm's ``\\r`` fragments (split by the real splitter) stay one moving line per stream, even with
    another stream's lines in between; the router keeps every fragment (the full log)."""
    from tui.lines import LineSplitter

    app = OutputApp(str(tmp_path))
    async with app.run_test(size=(80, 20)) as pilot:
        log = app.query_one(OutputLog)
        splitter = LineSplitter()
        app.feed("stdout", ["[12-01 10:00:00] [DenoisingStage] started..."])
        app.router.feed("stderr", splitter.feed(b"\r  0%|          | 0/3 [00:00<?, ?it/s]\r 33%|###"))
        app.query_one(OutputView).add_lines(app.router.drain().lines)
        app.feed("stdout", ["[12-01 10:00:01] a log line between two redraws"])
        app.router.feed("stderr", splitter.feed(b"   | 1/3 [00:01<00:02,  1.00it/s]\r100%|##########| 3/3 [00:03<00:00]\n"))
        app.query_one(OutputView).add_lines(app.router.drain().lines)
        app.feed("stderr", ["an ordinary stderr line"])
        await pilot.pause()
        shown = [line.plain for line in log.shown_lines]
        assert shown == [
            "[12-01 10:00:00] [DenoisingStage] started...",
            "100%|##########| 3/3 [00:03<00:00]",
            "[12-01 10:00:01] a log line between two redraws",
            "an ordinary stderr line",
        ]
        texts = ["".join(seg.text for seg in log.render_line(y)) for y in range(4)]
        assert "3/3" in texts[1] and "0/3" not in "".join(texts)
        assert sum("/3 [" in line.plain for line in app.router.tail(50)) == 3  # every fragment kept upstream


async def test_a_new_theme_reaches_every_line_drawn_after_it(tmp_path: Path) -> None:
    """The log keeps its base style for one frame only: lines drawn after a theme change carry the
    new background, both the lines drawn before it (kept strips) and the blank rows below them."""
    app = OutputApp(str(tmp_path))
    async with app.run_test(size=(80, 20)) as pilot:
        app.feed("stdout", ["first line", "second line"])
        await pilot.pause()
        log = app.query_one(OutputLog)

        def backgrounds() -> set[Any]:
            strips = log.render_lines(log.region.reset_offset)
            return {seg.style.bgcolor for strip in strips[:4] for seg in strip if seg.style and seg.style.bgcolor}

        before = backgrounds()
        assert len(before) == 1
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        after = backgrounds()
        assert len(after) == 1 and after != before

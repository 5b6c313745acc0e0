"""The console launching real children: timings and kernel API blocks on screen, the crash report
opening by itself, the re-run with a raised kernel API level, and stop with visible escalation.

Fast tests use ``tests/data/fake_sglang_child.py`` (SGLang-shaped output written by the records
module, real signals); the ``slow`` ones launch the real backend (``python -m backend generate``).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.console_helpers import pilot_wait_until
from tests.fixtures_ui import fake_child
from tui.screens.crash_screen import CrashScreen
from tui.widgets.image_view import ImageView
from tui.widgets.ring_table import RingTable
from tui.widgets.session_header import SessionHeader


async def wait_for(pilot: Any, predicate: Callable[[], Any], timeout: float = 20.0,
                   describe: Callable[[], object] | None = None) -> None:
    """Pause the app until ``predicate()`` holds (with a deadline)."""
    await pilot_wait_until(pilot, predicate, timeout, describe=describe)


def rows(app: Any, selector: str) -> list[tuple[Any, ...]]:
    table = app.query_one(selector, RingTable)
    return [tuple(table.get_row_at(i)) for i in range(table.row_count)]


def crash_screen_up(app: Any) -> bool:
    """The crash screen is on top and composed (a key pressed before that would race its mount)."""
    return isinstance(app.screen, CrashScreen) and bool(app.screen.query("#report-text"))


def set_session(app: Any, **values: str) -> None:
    for name, raw in values.items():
        app.session.set(name, raw)


async def test_run_shows_timings_kernel_blocks_image_and_exit(console: Any) -> None:
    app = console(command=fake_child("--steps", "4", "--nan"))
    async with app.run_test(size=(80, 24)) as pilot:
        set_session(app, SGLANG_KERNEL_API_LOGLEVEL="5", SGLANG_CACHE_DIT_ENABLED="true")
        await pilot.press(*["f3"] * 6)  # every live view shown once (each is composed on its first show)
        await wait_for(pilot, lambda: app.shown_view is app.views.attention)
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.query_one(SessionHeader).run_state == "exited")
        # The last events may land in the views just after the exit: wait for them, not a fixed time.
        await wait_for(pilot, lambda: len(rows(app, "#stages")) == 4 and len(rows(app, "#calls")) == 4
                       and app.query_one(ImageView).path is not None, describe=lambda: rows(app, "#stages"))
        stages = [str(r[0]) for r in rows(app, "#stages")]
        assert stages == ["InputValidationStage", "TextEncodingStage", "DenoisingStage", "DecodingStage"]
        assert str(rows(app, "#calls")[1][3]) == "6"
        assert "cache hit 25%" in str(app.query_one("#summary").render())
        assert app.query_one(ImageView).path is not None
        assert "exited normally" in str(app.query_one("#exit").render())
        assert not isinstance(app.screen, CrashScreen)
        first_pid = app.supervisor.pid
        await pilot.press("f7")
        await wait_for(pilot, lambda: app.supervisor.pid != first_pid
                       and app.query_one(SessionHeader).run_state == "exited")
        await wait_for(pilot, lambda: len(rows(app, "#history")) == 2,
                       describe=lambda: f"restart ran the same request again; history keeps both: {rows(app, '#history')}")


@pytest.mark.parametrize("crash,signame", [("segv", "SIGSEGV"), ("abrt", "SIGABRT")])
async def test_crash_report_opens_by_itself_and_rerun_raises_the_level(console: Any, crash: str,
                                                                       signame: str) -> None:
    app = console(command=fake_child("--steps", "2", "--crash", crash))
    async with app.run_test(size=(80, 24)) as pilot:
        set_session(app, SGLANG_KERNEL_API_LOGLEVEL="1")
        await pilot.press("f5")
        await wait_for(pilot, lambda: app._last_exit is not None)
        exited = time.monotonic()
        await wait_for(pilot, lambda: isinstance(app.screen, CrashScreen), timeout=1.0)
        assert time.monotonic() - exited < 1.0
        await wait_for(pilot, lambda: crash_screen_up(app))
        text = app.screen.report_text
        assert signame in app.screen.title_text and "backend.vae.decode_conv" in text
        first_pid = app.supervisor.pid
        await pilot.press("3")
        await wait_for(pilot, lambda: app.supervisor.pid != first_pid and app._last_plan is not None)
        assert app._last_plan.env["SGLANG_KERNEL_API_LOGLEVEL"] == "3"
        assert "SGLANG_KERNEL_API_LOGLEVEL" not in app.session.values or app.session.values[
            "SGLANG_KERNEL_API_LOGLEVEL"] == "1", "the re-run does not change the session"
        await wait_for(pilot, lambda: crash_screen_up(app))


async def test_stop_shows_escalation_and_leaves_no_process(console: Any) -> None:
    from tui.supervisor import StopPolicy

    app = console(command=fake_child("--steps", "4", "--crash", "stall", "--ignore-sigint"), stall_timeout=None,
                  stop_policy=StopPolicy(sigint_timeout=1.0, sigterm_timeout=1.0, sigkill_timeout=1.0))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: app._engine is not None and app.supervisor.pid is not None
                       and app.query_one(SessionHeader).run_state == "running")
        pid = app.supervisor.pid
        # The child ignores SIGINT from its first line on: wait for that line, not a fixed time.
        await wait_for(pilot, lambda: any("kernel API level" in ln.plain
                                          for ln in app.views.output.log_widget.shown_lines))
        await pilot.press("f6")
        # The header says "stopping: ..." only for the escalation's second or two, which a loaded
        # machine may not let this poll catch; the Output view's history lines below keep every step.
        await wait_for(pilot, lambda: app.query_one(SessionHeader).run_state == "exited", timeout=20)

        def history() -> list[str]:
            return [ln.plain for ln in app.views.output.log_widget.shown_lines if ln.plain.startswith("──")]

        await wait_for(pilot, lambda: any("SIGINT sent, SIGTERM in" in line for line in history())
                       and any("SIGTERM sent, SIGKILL in" in line for line in history()), describe=history)
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
        assert not isinstance(app.screen, CrashScreen), "a stop the operator asked for is not a crash"


async def test_stall_opens_the_crash_report(console: Any) -> None:
    app = console(command=fake_child("--steps", "4", "--crash", "stall"), stall_timeout=1.0)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        await wait_for(pilot, lambda: crash_screen_up(app), timeout=15)
        assert "stalled" in app.screen.title_text
        await pilot.press("escape")
        await pilot.press("f6")
        await wait_for(pilot, lambda: app.query_one(SessionHeader).run_state == "exited", timeout=20)


@pytest.mark.slow
async def test_real_backend_run_shows_timings_and_kernel_blocks(console: Any, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "backend", "generate", "--prompt", "a red circle", "--num-inference-steps", "2",
           "--output-path", str(tmp_path / "outputs")]
    app = console(command=cmd)
    async with app.run_test(size=(80, 24)) as pilot:
        set_session(app, SGLANG_KERNEL_API_LOGLEVEL="3", SGLANG_DIFFUSION_STAGE_LOGGING="true")
        await pilot.press(*["f3"] * 6)  # every live view shown once (each is composed on its first show)
        await wait_for(pilot, lambda: app.shown_view is app.views.attention)
        await pilot.press("f5")
        await wait_for(pilot, lambda: app.query_one(SessionHeader).run_state == "exited", timeout=120)
        await wait_for(pilot, lambda: app.query_one(ImageView).path is not None and rows(app, "#calls")
                       and any(str(r[0]) == "DenoisingStage" for r in rows(app, "#stages")),
                       describe=lambda: (rows(app, "#stages"), len(rows(app, "#calls"))))
        assert all(str(r[1]) == "done" for r in rows(app, "#stages")), rows(app, "#stages")


@pytest.mark.slow
async def test_real_backend_segfault_drill_names_the_call(console: Any, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "backend", "generate", "--prompt", "a red circle", "--num-inference-steps", "2",
           "--output-path", str(tmp_path / "outputs"), "--inject-fault", "segfault@backend.attention.*"]
    app = console(command=cmd)
    async with app.run_test(size=(80, 24)) as pilot:
        set_session(app, SGLANG_KERNEL_API_LOGLEVEL="3")
        await pilot.press("f5")
        await wait_for(pilot, lambda: isinstance(app.screen, CrashScreen), timeout=120)
        assert "SIGSEGV" in app.screen.title_text and "backend.attention." in app.screen.report_text

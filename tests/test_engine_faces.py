"""One engine, two faces: the same scripted child through the TUI (Pilot) and ``sgl-console run``
gives the same event stream (lifecycle, output per stream, kernel API calls, stages, exit, crash)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tests.fixtures_ui import REPO_ROOT, fake_child
from tests.test_console_launch import wait_for
from tui.engine.events import event_summary
from tui.screens.crash_screen import CrashScreen

COMPARED = {"started", "exited", "crash", "output"}
"""Kinds whose order is the run's, not the machine's (batching and sampling depend on timing)."""


def digest(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """What both faces must agree on, from ``event_summary`` dicts."""
    events = list(events)
    lines: dict[str, list[str]] = {}
    for e in events:
        for stream, text in e.get("lines", ()):
            if stream in ("stdout", "stderr"):
                lines.setdefault(stream, []).append(text)
    return {
        "kinds": [e["kind"] for e in events if e["kind"] in COMPARED],
        "lines": lines,
        "calls": [name for e in events for name in e.get("calls", ())],
        "stages": [stage for e in events for req in e.get("finished", ()) for stage in req],
        "exit": [e["exit"]["description"] for e in events if e["kind"] == "exited"],
        "crash": [e["text"] for e in events if e["kind"] == "crash"],
    }


async def test_tui_and_cli_see_the_same_run(console: Any, ui_env: dict[str, str], tmp_path: Path) -> None:
    child = fake_child("--steps", "3", "--crash", "segv", "--output", str(tmp_path / "out.png"))
    from tui.session import Session

    session = Session.new("faces", environ=ui_env)
    session.set("SGLANG_KERNEL_API_LOGLEVEL", "3")
    session.save()

    events_file = tmp_path / "events.jsonl"
    env = {**ui_env, "PYTHONPATH": str(REPO_ROOT)}
    cli = subprocess.run([sys.executable, "-m", "tui", "-s", "faces", "run", "--quiet", "--events", str(events_file),
                          "--", *child], env=env, cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=60)
    assert cli.returncode == 139, cli.stderr
    assert oct(os.stat(events_file).st_mode & 0o777) == oct(0o600)
    cli_events = [json.loads(line) for line in events_file.read_text().splitlines()]

    tui_events: list[dict[str, Any]] = []
    app = console(session="faces", command=child)
    async with app.run_test(size=(80, 24)) as pilot:
        app.engine.add_listener(lambda event: tui_events.append(event_summary(event)))
        await pilot.press("f5")
        # The report screen is up and composed (leaving mid-compose would fail its on_mount).
        await wait_for(pilot, lambda: isinstance(app.screen, CrashScreen) and app.screen.query("#report-text"))
        await wait_for(pilot, lambda: app.engine.wait_finished(0))

    ours, theirs = digest(tui_events), digest(cli_events)
    assert ours == theirs
    assert ours["kinds"][0] == "started" and ours["kinds"][-2:] == ["exited", "crash"]
    assert "backend.vae.decode_conv" in ours["calls"] and ours["exit"] == ["killed by SIGSEGV (segmentation fault)"]
    assert any("kernel API level 3" in text for text in ours["lines"]["stdout"])


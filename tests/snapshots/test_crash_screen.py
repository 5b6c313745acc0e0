"""Snapshot of the crash report screen for a drilled SIGSEGV.

Baselines: ``pytest tests/snapshots --snapshot-update`` (look at them before committing).
"""

from __future__ import annotations

from typing import Any

from tests.demo import demo_app, stage

SIZE = (80, 24)


class TestScreenCrash:
    def test_screen_crash(self, snap_compare: Any) -> None:
        """Crash report: SIGSEGV with the in-flight kernel API call and its arguments."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "screen-crash"))

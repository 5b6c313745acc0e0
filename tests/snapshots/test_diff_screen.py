"""Snapshot of the diff screen against the defaults.

Baselines: ``pytest tests/snapshots --snapshot-update`` (look at them before committing).
"""

from __future__ import annotations

from typing import Any

from tests.demo import demo_app, stage

SIZE = (80, 24)


class TestScreenDiff:
    def test_screen_diff(self, snap_compare: Any) -> None:
        """Diff screen: the demo session against the defaults (the secret masked)."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "screen-diff"))

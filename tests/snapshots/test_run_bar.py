"""Snapshot of the run bar refusing a run while the session has an error.

Baselines: ``pytest tests/snapshots --snapshot-update`` (look at them before committing).
"""

from __future__ import annotations

from typing import Any

from tests.demo import demo_app, stage

SIZE = (80, 24)


class TestScreenRefused:
    def test_screen_refused(self, snap_compare: Any) -> None:
        """Run refused: storage on without a bucket, the run bar names the variable."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "screen-refused"))

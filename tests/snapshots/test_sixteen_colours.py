"""Snapshots in 16 colours: the ``ansi-dark`` theme the console picks on a 16-colour terminal.

Baselines: ``pytest tests/snapshots --snapshot-update`` (look at them before committing).
"""

from __future__ import annotations

from typing import Any

from tests.demo import scene_app, stage

SIZE = (80, 24)


class TestAnsiPaneCaching:
    def test_ansi_pane_caching(self, snap_compare: Any) -> None:
        """Caching pane in 16 colours: the switch, the rejected WARMUP text and its message stay readable."""
        assert snap_compare(scene_app("ansi-pane-caching"), terminal_size=SIZE,
                            run_before=lambda pilot: stage(pilot, "ansi-pane-caching"))


class TestAnsiViewKernel:
    def test_ansi_view_kernel(self, snap_compare: Any) -> None:
        """Kernel API view in 16 colours: the NaN total and the NaN row still stand out."""
        assert snap_compare(scene_app("ansi-view-kernel"), terminal_size=SIZE,
                            run_before=lambda pilot: stage(pilot, "ansi-view-kernel"))

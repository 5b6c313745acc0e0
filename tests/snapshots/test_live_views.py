"""Snapshots of the six live views at 80x24, filled by ``tests.demo`` (no process, fixed content).

Baselines: ``pytest tests/snapshots --snapshot-update`` (look at them before committing).
"""

from __future__ import annotations

from typing import Any

from tests.demo import demo_app, stage

SIZE = (80, 24)


class TestViewOutput:
    def test_view_output(self, snap_compare: Any) -> None:
        """Output view: stderr marked, kernel API blocks, follow on."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "view-output"))


class TestViewTimings:
    def test_view_timings(self, snap_compare: Any) -> None:
        """Timings view: stages, per-step chart, two runs with deltas and cache hit ratio."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "view-timings"))


class TestViewKernel:
    def test_view_kernel(self, snap_compare: Any) -> None:
        """Kernel API view: blocks, NaN counts highlighted, calls per API, block detail."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "view-kernel"))


class TestViewProcess:
    def test_view_process(self, snap_compare: Any) -> None:
        """Process view: a backend with two workers, CPU/RSS/threads/files, exit decoded."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "view-process"))


class TestViewImage:
    def test_view_image(self, snap_compare: Any) -> None:
        """Image view: the last output as half-blocks, with its path."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "view-image"))


class TestViewAttention:
    def test_view_attention(self, snap_compare: Any) -> None:
        """Attention view: reload time, the diff, the resident-backend note."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "view-attention"))

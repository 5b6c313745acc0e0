"""Snapshots of the five settings panes at 80x24 (demo session, cpu-only host).

Baselines: ``pytest tests/snapshots --snapshot-update`` (look at them before committing).
"""

from __future__ import annotations

from typing import Any

from tests.demo import demo_app, stage

SIZE = (80, 24)


class TestPaneRuntime:
    def test_pane_runtime(self, snap_compare: Any) -> None:
        """Runtime pane: a typed relative profiler dir with its message under the field."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "pane-runtime"))


class TestPanePlatform:
    def test_pane_platform(self, snap_compare: Any) -> None:
        """Platform pane: ROCm VAE on, marked 'no effect on this host' (cpu only)."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "pane-platform"))


class TestPaneCaching:
    def test_pane_caching(self, snap_compare: Any) -> None:
        """Caching pane: Cache-DiT on, RDT 0.12, 'four' rejected for WARMUP."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "pane-caching"))


class TestPaneStorage:
    def test_pane_storage(self, snap_compare: Any) -> None:
        """Storage pane: S3 on with a bucket and endpoint, the secret masked."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "pane-storage"))


class TestPaneDebug:
    def test_pane_debug(self, snap_compare: Any) -> None:
        """Debug pane: kernel API level 5 selected."""
        assert snap_compare(demo_app(), terminal_size=SIZE, run_before=lambda pilot: stage(pilot, "pane-debug"))

"""Switching views 1,000 times: flat memory, no widgets or watchers piling up.

Why: the stock Footer rebuilt its keys at every switch and each rebuilt key stayed referenced
from the footer's watcher list (0.46 MiB per switch, keys slower and slower).  A stock Footer
fails this test; ``ConsoleFooter`` (one widget, repainted) passes.
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections.abc import Callable
from typing import Any

import psutil
import pytest
from textual.widget import Widget

from tui.widgets.console_footer import ConsoleFooter

SWITCHES = int(os.environ.get("SGL_TEST_SWITCHES", "1000"))


async def next_frame(app: Any) -> None:
    """Wait until the screen was refreshed once (cheaper than ``pilot.pause``, which visits every widget)."""
    drawn = asyncio.Event()
    app.call_after_refresh(drawn.set)
    await drawn.wait()


def live_widgets() -> int:
    """Widgets alive anywhere (mounted or not): a switch that rebuilds widgets leaves them here."""
    return sum(1 for obj in gc.get_objects() if isinstance(obj, Widget))


def watcher_count(app: Any) -> int:
    return sum(len(entries) for node in app.screen.walk_children(with_self=True)
               for entries in getattr(node, "__watchers", {}).values())


@pytest.mark.timeout(900)  # about a minute of CPU; minutes of wall time on a loaded machine
async def test_thousand_view_switches_keep_memory_and_footer_flat(console: Callable[..., Any]) -> None:
    app = console(watch_config=False)
    async with app.run_test(size=(80, 24)) as pilot:
        # F3 six times shows every view, F2 five times every pane (each composed on its first show)
        switches = [app.action_live] * 6 + [app.action_settings] * 5
        for switch in switches * 2:
            switch()
            await pilot.pause()
        footer = app.query_one(ConsoleFooter)
        gc.collect()
        widgets_before, watchers_before = live_widgets(), watcher_count(app)
        rebuilds_before = footer.rebuilds
        rss_before = psutil.Process().memory_info().rss
        for i in range(SWITCHES):
            switches[i % len(switches)]()
            await next_frame(app)
        gc.collect()
        grown = (psutil.Process().memory_info().rss - rss_before) / 2**20
        assert live_widgets() <= widgets_before + 2, "widgets pile up across view switches"
        assert watcher_count(app) <= watchers_before + 2, "watchers of removed widgets are kept"
        assert footer.rebuilds - rebuilds_before <= SWITCHES // 5, "the footer is rebuilt at every switch"
        assert grown < 40.0, f"memory grew by {grown:.1f} MiB over {SWITCHES} view switches"

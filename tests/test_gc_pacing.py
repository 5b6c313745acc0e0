"""tui/engine/gc_pacing.py: survivors leave the collector's way while a run streams, reference
counting still frees them, and one full pass after the run finds the cycles among them."""

from __future__ import annotations

import gc
import os
import sys
import time
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console_helpers import wait_until
from tui.engine.gc_pacing import SETTLE_AFTER, GcPacing
from tui.engine.run import RunEngine
from tui.launch import LaunchPlan


class Node:
    def __init__(self) -> None:
        self.other: Any = None


@pytest.fixture
def thawed() -> Iterator[None]:
    """Each test starts and ends with nothing frozen (what it freezes is its own)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_tick_freezes_at_most_once_a_period(thawed: None) -> None:
    pacing = GcPacing(period=3600)
    before = gc.get_freeze_count()
    survivor = [Node() for _ in range(50)]
    pacing.tick()
    assert pacing.freezes == 1 and gc.get_freeze_count() >= before + 50
    pacing.tick()  # within the period: nothing
    assert pacing.freezes == 1
    assert survivor


def test_a_frozen_object_is_still_freed_when_dropped(thawed: None) -> None:
    node = Node()
    gone = weakref.ref(node)
    GcPacing(period=0).tick()
    del node  # no cycle: reference counting frees it at once, frozen or not
    assert gone() is None


def test_settle_collects_the_cycles_frozen_during_a_run(thawed: None) -> None:
    pacing = GcPacing(period=0)
    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    pacing.tick()
    del a, b
    gc.collect()
    assert gone() is not None, "frozen: the collector's passes do not see it"
    assert pacing.settle() >= 2 and gone() is None
    assert gc.get_freeze_count() > 0, "what is left is frozen again"


def test_the_engine_paces_a_streaming_run_and_settles_after_it(thawed: None) -> None:
    events: list[Any] = []

    def face(event: Any) -> None:  # takes each batch at once, as a face does, so the engine never waits
        events.append(event)
        engine.ack()

    engine = RunEngine(face, sample_processes=False, report_stalls=False)
    engine.gc_pacing.period = 0.01
    script = "import time\nfor i in range(40):\n    print('line', i, flush=True); time.sleep(0.02)\n"
    settled: list[int] = []
    settled_at: list[float] = []
    real_settle = engine.gc_pacing.settle

    def settle() -> int:
        settled_at.append(time.monotonic())
        settled.append(real_settle())
        return settled[-1]

    engine.gc_pacing.settle = settle  # type: ignore[method-assign]
    try:
        engine.start(LaunchPlan(argv=(sys.executable, "-c", script), env=dict(os.environ), display="child"))
        assert engine.wait_finished(30)
        finished = time.monotonic()
        assert engine.gc_pacing.freezes > 0
        wait_until(lambda: settled, timeout=10, describe=lambda: engine.gc_pacing.freezes)
        # not while the face opens the exit's report: the full pass waits until the run is well over
        assert settled_at[0] - finished >= SETTLE_AFTER - 0.05
    finally:
        engine.close()
    assert len(settled) == 1, "one full pass per run, once it is over"


def test_no_full_pass_while_the_next_run_lives(thawed: None) -> None:
    """A run started before the last one's pass was due keeps it waiting: the pass would take the
    cores the new child (importing torch, say) is using.  It comes after that run's end."""
    events: list[Any] = []

    def face(event: Any) -> None:
        events.append(event)
        engine.ack()

    engine = RunEngine(face, sample_processes=False, report_stalls=False)
    engine.gc_pacing.period = 0.01
    settled_at: list[float] = []
    real_settle = engine.gc_pacing.settle

    def settle() -> int:
        settled_at.append(time.monotonic())
        return real_settle()

    engine.gc_pacing.settle = settle  # type: ignore[method-assign]
    streaming = "import time\nfor i in range(20):\n    print('line', i, flush=True); time.sleep(0.02)\n"
    quiet = f"import time; time.sleep({SETTLE_AFTER + 1.5})"
    try:
        engine.start(LaunchPlan(argv=(sys.executable, "-c", streaming), env=dict(os.environ), display="child"))
        assert engine.wait_finished(30)
        engine.start(LaunchPlan(argv=(sys.executable, "-c", quiet), env=dict(os.environ), display="child"))
        assert engine.wait_finished(30)
        second_ended = time.monotonic()
        assert settled_at == [], "the pass ran while the second child lived"
        wait_until(lambda: settled_at, timeout=10)
        assert settled_at[0] >= second_ended
    finally:
        engine.close()
    assert len(settled_at) == 1

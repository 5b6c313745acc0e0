"""InputFirst: the parsing threads wait while a key is answered, never longer than ``max_hold``."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tui.engine.input_first import InputFirst


def _waiter(gate: InputFirst, passed: threading.Event) -> threading.Thread:
    def run() -> None:
        gate.wait()
        passed.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_an_open_gate_does_not_wait() -> None:
    gate = InputFirst()
    passed = threading.Event()
    _waiter(gate, passed).join(timeout=5)
    assert passed.is_set() and not gate.held


def test_a_held_gate_waits_for_the_release() -> None:
    gate = InputFirst(max_hold=30.0)
    gate.hold()
    passed = threading.Event()
    t = _waiter(gate, passed)
    assert not passed.wait(0.2), "a parser passed while a key was being answered"
    assert gate.held
    gate.release()
    t.join(timeout=5)
    assert passed.is_set() and not gate.held and gate.holds == 1


def test_a_hold_never_outlives_max_hold() -> None:
    gate = InputFirst(max_hold=0.2)
    gate.hold()  # a face that never releases
    passed = threading.Event()
    started = time.monotonic()
    _waiter(gate, passed).join(timeout=5)
    assert passed.is_set(), "the gate stayed closed past max_hold"
    assert time.monotonic() - started >= 0.1  # it did wait for the key first
    assert not gate.held


async def test_the_driver_holds_the_gate_when_it_reads_a_key(tmp_path: Path) -> None:
    """The console's driver (the platform's, wrapped) holds the run's gate from its input thread,
    before the key reaches the app's queue; other input does not."""
    from textual import events
    from textual.drivers.headless_driver import HeadlessDriver

    from tests.demo import demo_environ
    from tui.__main__ import make_app
    from tui.key_first_driver import key_first_driver

    app = make_app(environ=demo_environ(str(tmp_path)), watch_config=False)
    assert app.get_driver_class().__name__.startswith("KeyFirst")
    driver = key_first_driver(HeadlessDriver)(app)
    driver.process_message(events.Key("f2", None))  # no run yet: nothing to hold, nothing fails
    gate = app.engine.input_first
    try:
        driver.process_message(events.Resize.from_dimensions((80, 24), None))
        assert gate.holds == 0
        driver.process_message(events.Key("f2", None))
        assert gate.held and gate.holds == 1
    finally:
        app.engine.close()

"""InputFirst: the parsing threads wait while a key is answered, never longer than ``max_hold``."""

from __future__ import annotations

import threading
import time

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

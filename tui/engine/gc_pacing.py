"""GcPacing: keep the cyclic garbage collector's passes short while a run streams.

Why: under a flood the parsers allocate hundreds of thousands of objects a second and the views'
rings keep the newest of them, so objects keep surviving into the oldest generation and Python
runs full collections over the whole heap: 120 ms each on a 2-core host, about one a second
during a level-3 kernel API flood, holding the interpreter lock (and with it the keys) every time.

Objects that have lived a pacing period are moved out of the collector's way (``gc.freeze``), so
each pass scans only what was allocated since.  Reference counting still frees every frozen object
that is dropped (records evicted from a ring, lines past the window); only reference cycles among
frozen objects wait for :meth:`GcPacing.settle`, which runs one full collection when the run is
over, nobody waits for the screen and no other run has started (the pass would take its cores).
"""

from __future__ import annotations

import gc
import time

PERIOD = 0.25
"""Seconds between two freezes while a run streams (each one is a constant-time list splice)."""
SETTLE_AFTER = 2.0
"""Seconds after a run's end before the full pass: the pass holds the interpreter, and right after a
crash the face is opening the report (due within a second)."""


class GcPacing:
    """Called by the engine's dispatcher: :meth:`tick` per batch while a run streams, :meth:`ended`
    when it is over, :meth:`idle` when nothing streams and no run lives (the full pass, once,
    ``SETTLE_AFTER`` after the last run's end)."""

    def __init__(self, period: float = PERIOD) -> None:
        self.period = period
        self._at = 0.0
        self._ended_at: float | None = None
        """When the last paced run ended; None when nothing waits for the full pass."""
        self._paced = False
        self.freezes = 0
        """How many times survivors were moved out of the collector's way (tests)."""

    def tick(self) -> None:
        """Freeze what survived since the last freeze, at most once a ``period``."""
        now = time.monotonic()
        if now - self._at >= self.period:
            self._at = now
            gc.freeze()
            self.freezes += 1
        self._paced = True

    def ended(self) -> None:
        """The run is over (exit handled, report sent): its full pass is due ``SETTLE_AFTER`` from now."""
        if self._paced:
            self._ended_at = time.monotonic()

    def idle(self) -> None:
        """Nothing streams and no child lives now: run the full pass if one is due."""
        if self._ended_at is not None and time.monotonic() - self._ended_at >= SETTLE_AFTER:
            self._ended_at, self._paced = None, False
            self.settle()

    def settle(self) -> int:
        """One full collection over everything frozen during the run (cycles among dropped objects),
        then freeze what is left again; returns the number of unreachable objects found."""
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        return found

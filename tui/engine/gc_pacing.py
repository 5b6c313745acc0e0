"""GcPacing: keep the cyclic garbage collector's passes short while a run streams.

Why: under a flood the parsers allocate hundreds of thousands of objects a second and the views'
rings keep the newest of them, so objects keep surviving into the oldest generation and Python
runs full collections over the whole heap: 120 ms each on a 2-core host, about one a second
during a level-3 kernel API flood, holding the interpreter lock (and with it the keys) every time.

Objects that have lived a pacing period are moved out of the collector's way (``gc.freeze``), so
each pass scans only what was allocated since.  Reference counting still frees every frozen object
that is dropped (records evicted from a ring, lines past the window); only reference cycles among
frozen objects wait for :meth:`GcPacing.settle`, which runs one full collection when the run is
over and nobody waits for the screen.
"""

from __future__ import annotations

import gc
import time

PERIOD = 0.25
"""Seconds between two freezes while a run streams (each one is a constant-time list splice)."""


class GcPacing:
    """Called by the engine's dispatcher: :meth:`tick` per batch, :meth:`settle` once a run is over."""

    def __init__(self, period: float = PERIOD) -> None:
        self.period = period
        self._at = 0.0
        self.freezes = 0
        """How many times survivors were moved out of the collector's way (tests)."""

    def tick(self) -> None:
        """Freeze what survived since the last freeze, at most once a ``period``."""
        now = time.monotonic()
        if now - self._at >= self.period:
            self._at = now
            gc.freeze()
            self.freezes += 1

    def settle(self) -> int:
        """One full collection over everything frozen during the run (cycles among dropped objects),
        then freeze what is left again; returns the number of unreachable objects found."""
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        return found

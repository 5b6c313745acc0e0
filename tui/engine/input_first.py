"""InputFirst: the operator's key before the run's parsing, within one process.

Why: the console's parsing threads (the line pump, the tailer, the dispatcher) and its UI thread
share one interpreter lock.  Under a flood the parsers are always ready to run, and Python hands
the lock round in 5 ms slices, so a view switch that costs 100 ms alone took three times that.
The face holds the gate when a key arrives and releases it once the screen shows the answer;
the parsers wait at the gate between chunks (never the pipe readers: the child is not slowed,
the backlog is bounded and sampled as always).  A hold ends by itself after ``max_hold`` seconds,
so a face that never releases cannot stall a run's views.
"""

from __future__ import annotations

import threading
import time

MAX_HOLD = 0.3
"""Longest a key keeps the parsers waiting (a view switch takes about 0.1 s on a loaded 2-core host)."""


class InputFirst:
    """A gate the parsing threads pass between chunks; closed while a key is being answered."""

    def __init__(self, max_hold: float = MAX_HOLD) -> None:
        self.max_hold = max_hold
        self._open = threading.Event()
        self._open.set()
        self._until = 0.0
        self.holds = 0
        """Keys that held the gate (tests, benchmarks)."""

    def hold(self) -> None:
        """A key arrived: parsers wait (at most ``max_hold``) until :meth:`release`."""
        self._until = time.monotonic() + self.max_hold
        self.holds += 1
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    @property
    def held(self) -> bool:
        return not self._open.is_set() and time.monotonic() < self._until

    def wait(self) -> None:
        """Called by a parsing thread between chunks: returns at once unless a key is being answered."""
        while not self._open.is_set():
            left = self._until - time.monotonic()
            if left <= 0:
                self._open.set()
                return
            self._open.wait(left)

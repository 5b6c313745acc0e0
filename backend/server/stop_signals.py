"""How a stop reaches a running request: SIGTERM/SIGINT set its :class:`CancelToken`.

Why a module of its own: the ``generate`` entry and every ``--num-workers`` worker install the same
handlers, and the worker must not import the entry point (that was an import cycle).
"""

from __future__ import annotations

import signal

from backend.exit_codes import ExitCode
from backend.pipeline.request import CancelToken


def install_stop_handlers(on_stop: CancelToken) -> None:
    """SIGTERM/SIGINT set an event: a request abandons at its next stage or step boundary.  Before
    one runs (``on_stop.immediate``: still loading) the handler ends the process at once with 143."""

    def handler(signum: int, frame: object) -> None:
        on_stop.cancel()
        if on_stop.immediate:
            on_stop.immediate = False  # a second signal during the unwinding changes nothing
            raise SystemExit(int(ExitCode.CANCELLED))

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)

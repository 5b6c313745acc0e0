"""The stop escalation: SIGINT, wait, SIGTERM, wait, SIGKILL, wait, each wait bounded, over the
whole process tree (the group and descendants that left it).

Why its own module: the ladder's rules (each process gets each signal once, re-collect the tree
before each signal, the main process is reaped by Popen and never by psutil) are subtle and
independent of starting and watching the run.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable

import psutil

from tui.engine import proctree
from tui.engine.exit_status import signal_name
from tui.engine.run_state import StopPolicy, StopProgress


def total_timeout(pol: StopPolicy) -> float:
    """The longest a full escalation under ``pol`` may take (the sum of its waits, plus a second)."""
    return pol.sigint_timeout + pol.sigterm_timeout + pol.sigkill_timeout + 1.0


def escalate(procs: list[psutil.Process], pgid: int, first: int, pol: StopPolicy, *,
             exited: threading.Event, on_step: Callable[[StopProgress], None],
             main: subprocess.Popen[bytes] | None = None,
             refresh: Callable[[int], list[psutil.Process]] | None = None) -> None:
    """Signal ``procs`` and the group ``pgid`` up the ladder until all are gone.

    Args:
        first: ``SIGINT`` to start with SIGINT, else the ladder starts at SIGTERM.
        exited: set when the main process has exited (its monitor saw it).
        on_step: called with the progress before each signal.
        main: the main process (ours: Popen reaps it); None once it has exited.
        refresh: the tree below a pid now, used with ``main`` before each signal.
    """
    ladder: list[tuple[int, float]] = []
    if first == signal.SIGINT:
        ladder.append((signal.SIGINT, pol.sigint_timeout))
    ladder += [(signal.SIGTERM, pol.sigterm_timeout), (signal.SIGKILL, pol.sigkill_timeout)]
    for i, (sig, timeout) in enumerate(ladder):
        # Re-collect before each signal: workers spawned meanwhile, or that left the group.
        if main is not None and refresh is not None:
            procs = [p for p in {*procs, *refresh(main.pid)} if proctree.alive(p)]
        alive = [p for p in procs if proctree.alive(p)]
        if not alive and (main is None or main.poll() is not None):
            break
        name = signal_name(sig)
        nxt = signal_name(ladder[i + 1][0]) if i + 1 < len(ladder) else None
        deadline = time.monotonic() + timeout
        on_step(StopProgress(name, time.monotonic(), nxt, deadline))
        proctree.killpg(pgid, sig)
        # Each process gets the signal once: a second SIGINT would interrupt a Python child's
        # KeyboardInterrupt handler.  Those that left the group (setsid) are signalled directly.
        proctree.signal_procs([p for p in alive if proctree.pgid(p.pid) != pgid], sig)
        if not wait_gone(alive, main, deadline, exited):
            continue
        # Everyone we knew is gone; make sure the group is empty too, else escalate further.
        if not [p for p in proctree.group_members(pgid) if proctree.alive(p)]:
            break


def wait_gone(procs: list[psutil.Process], main: subprocess.Popen[bytes] | None, deadline: float,
              exited: threading.Event) -> bool:
    """Wait until ``procs`` and the main process are gone, or ``deadline``; True when gone.

    The main process is ours (Popen reaps it: psutil must not, or its exit code is lost), the
    others are waited for with ``psutil.wait_procs``."""
    main_pid = main.pid if main is not None else None
    others = [p for p in procs if p.pid != main_pid]
    while True:
        left = deadline - time.monotonic()
        if others:
            _gone, others = psutil.wait_procs(others, timeout=max(0.0, min(left, 0.1)))
            others = [p for p in others if proctree.alive(p)]
        main_alive = main is not None and main.poll() is None and not exited.is_set()
        if not others and not main_alive:
            return True
        if left <= 0:
            return False
        if not others:
            exited.wait(min(left, 0.05))

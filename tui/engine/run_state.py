"""A run's states and facts: what the supervisor reports and the engine passes on.

Why its own module: the supervisor, the engine and both faces use these records; keeping
them apart keeps the supervisor about processes only.  Imports neither textual nor rich.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from pathlib import Path

from backend.atomic_files import make_private_dirs
from tui.engine.exit_status import ExitStatus

PRIVATE_FILE = 0o600


class RunState(str, Enum):
    IDLE = "idle"
    RUNNING = "running"
    STALLED = "stalled"
    """No output and no CPU in the process tree for ``stall_timeout`` seconds."""
    STOPPING = "stopping"
    EXITED = "exited"
    FAILED = "failed"
    """The command could not be started (not found, permission ...)."""


@dataclass(frozen=True)
class StopPolicy:
    """Timeouts of the stop escalation, in seconds: SIGINT, then SIGTERM, then SIGKILL."""

    sigint_timeout: float = 5.0
    sigterm_timeout: float = 5.0
    sigkill_timeout: float = 5.0
    send_sigint: bool = True


@dataclass(frozen=True)
class StopProgress:
    """Where a stop is: the signal just sent and when the next one follows."""

    signal: str
    """``SIGINT``, ``SIGTERM``, ``SIGKILL`` or ``done``."""
    sent_at: float
    next_signal: str | None
    deadline: float | None
    """``time.monotonic()`` when the next signal is sent (or the stop gives up)."""

    def text(self, now: float | None = None) -> str:
        """E.g. ``"SIGTERM sent, SIGKILL in 3.0 s"``."""
        if self.signal == "done":
            return "stopped"
        if self.next_signal is None or self.deadline is None:
            return f"{self.signal} sent, waiting"
        left = max(0.0, self.deadline - (time.monotonic() if now is None else now))
        return f"{self.signal} sent, {self.next_signal} in {left:.1f} s"


@dataclass(frozen=True)
class RunInfo:
    """Facts about one started run."""

    run_id: str
    pid: int
    argv: tuple[str, ...]
    run_dir: str
    started_at: float
    stdout_log: str
    stderr_log: str


@dataclass(frozen=True)
class SupervisorStatus:
    """A snapshot for the UI (poll it, or listen to the events)."""

    state: RunState
    run: RunInfo | None
    exit: ExitStatus | None
    stop: StopProgress | None
    stalled_for: float | None
    """Seconds without output and CPU, while stalled."""
    error: str | None = None


def new_run_id() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S-%f")[:-3] + f"-{os.getpid() % 100000}"


def private_run_dir(root: str, run_id: str) -> Path:
    """``<root>/console/runs/<run id>``, every level this creates 0700 (a run's output may hold
    anything the child printed)."""
    path = Path(root) / "console" / "runs" / run_id
    make_private_dirs(path)
    return path

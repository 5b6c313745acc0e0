"""The real-path harness: programs in a real terminal (tmux, 80x24), watched through ``capture-pane``.

Why tmux and not Textual's headless pilot: the issue's point is that in-process numbers hide what
an operator sees (terminal writes, relayouts, a child blocked on its pipe).  Every figure here is
taken the same way for the console and for its anchor (``tail -F``, a pipe into ``cat``, a
hello-world Textual app) in the same run: poll the pane every ``POLL_S`` until a text shows.
"""

from __future__ import annotations

import os
import shlex
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

POLL_S = 0.01
"""capture-pane polling period: 10 ms, as the issue's measurements."""


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Pane:
    """One program running alone in its own tmux server (its own socket: nothing shared between
    panes, no user tmux touched), at a fixed 80x24."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None,
                 width: int = 80, height: int = 24) -> None:
        self.socket = f"sglbench-{uuid.uuid4().hex[:8]}"
        self.started_at = time.monotonic()
        full_env = {k: v for k, v in (env or os.environ).items() if k not in ("TMUX", "TMUX_PANE")}
        full_env.setdefault("TERM", "xterm-256color")
        command = " ".join(shlex.quote(a) for a in argv)
        # remain-on-exit: the last screen of a program that ended stays readable.
        subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "b",
                        "-x", str(width), "-y", str(height), command], env=full_env, cwd=cwd, check=True)
        self._tmux("set-option", "-t", "b", "remain-on-exit", "on")

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True)
        return done.stdout

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", "b")

    def pid(self) -> int:
        """The pid of the program the pane runs (no shell in between)."""
        return int(self._tmux("display-message", "-p", "-t", "b", "#{pane_pid}").strip() or 0)

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "b", *keys)

    def dead(self) -> bool:
        return self._tmux("display-message", "-p", "-t", "b", "#{pane_dead}").strip() == "1"

    def wait(self, test: Callable[[str], bool], timeout: float) -> float | None:
        """Poll until ``test(screen)``; returns the monotonic time it first held, None at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            shown = test(self.screen())
            now = time.monotonic()  # after the capture: the same bias for the console and its anchors
            if shown:
                return now
            if now > deadline:
                return None
            time.sleep(POLL_S)

    def wait_text(self, *texts: str, timeout: float = 10.0) -> float | None:
        return self.wait(lambda s: all(t in s for t in texts), timeout)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)

    def __enter__(self) -> Pane:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the console and the threads it runs), MiB."""
    import psutil

    try:
        proc = psutil.Process(pid)
        return proc.memory_info().rss / 2**20
    except psutil.Error:
        return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds ``pid`` itself has used (not its children)."""
    import psutil

    try:
        t = psutil.Process(pid).cpu_times()
        return t.user + t.system
    except psutil.Error:
        return float("nan")

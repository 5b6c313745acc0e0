"""No orphans: the child dies with ``sgl-console run`` even when it is SIGKILLed
(``PR_SET_PDEATHSIG``), and SIGTERM/SIGHUP stop the run with the usual escalation.  Survivors
are looked for in the process table, by the run's session (the child's pid)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest

from tests.console_helpers import wait_until
from tui.engine import proctree

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
HOLD = ("import os, signal, sys, time\n"
        "signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "print('ready', os.getpid(), flush=True)\n"
        "time.sleep(120)\n")
"""A child that ignores SIGINT (so a stop must escalate) and says when it is ready."""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG_")}
    return {**base, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "SGLANG_DIFFUSION_CACHE_ROOT": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}


def start_console(env: dict[str, str], *child: str) -> subprocess.Popen[str]:
    return subprocess.Popen([PY, "-m", "tui", "run", "--stop-timeout", "0.5", "--", *child], env=env, cwd=str(ROOT),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def ready_pid(out: IO[str]) -> int:
    """The child's pid from its ``ready <pid>`` line (blocking read, bounded by the test timeout)."""
    for line in out:
        if line.startswith("ready "):
            return int(line.split()[1])
    raise AssertionError("the child never said it was ready")


def survivors(sid: int) -> list[int]:
    return [p.pid for p in proctree.session_members(sid)]


def test_sigkill_of_the_console_takes_the_child_with_it(env: dict[str, str]) -> None:
    console = start_console(env, PY, "-c", HOLD)
    assert console.stdout is not None
    child = ready_pid(console.stdout)
    assert survivors(child) == [child]
    console.kill()
    console.wait(10)
    wait_until(lambda: not survivors(child), timeout=10, describe=lambda: survivors(child))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_and_sighup_stop_the_run_with_the_escalation(env: dict[str, str], sig: int) -> None:
    console = start_console(env, PY, "-c", HOLD)
    assert console.stdout is not None
    child = ready_pid(console.stdout)
    console.send_signal(sig)
    _out, err = console.communicate(timeout=30)
    assert console.returncode == 128 + signal.SIGTERM, err  # SIGINT ignored, SIGTERM ended it
    assert "SIGINT sent, SIGTERM in" in err and "child killed by SIGTERM" in err
    assert not survivors(child)


@pytest.mark.slow
def test_sigkill_of_the_console_takes_the_backend_and_its_workers(env: dict[str, str], tmp_path: Path) -> None:
    """Our backend with two workers (a long batch): nothing of its session outlives the console."""
    e = {**env, "SGLANG_DIFFUSION_TARGET_DEVICE": "cpu", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    console = start_console(e, PY, "-m", "backend", "generate", "--prompt", "a red circle", "--batch-size", "2",
                            "--num-workers", "2", "--num-inference-steps", "100000", "--max-steps", "100000", "--output-path",
                            str(tmp_path / "out"))
    assert console.stdout is not None
    workers = 0
    for line in console.stdout:
        workers += "Started worker" in line
        if workers == 2:
            break
    assert workers == 2, "the backend did not start its workers"
    sid = next(p.pid for p in proctree.descendants(console.pid) if os.getsid(p.pid) == p.pid)
    assert len(survivors(sid)) == 3
    console.kill()
    console.wait(10)
    wait_until(lambda: not survivors(sid), timeout=15, describe=lambda: survivors(sid))

"""The TUI in a real terminal (tmux) is told to go: ``tmux kill-session`` (SIGHUP) and ``kill``
(SIGTERM) stop its run with the escalation (the child, deaf to SIGINT, gets SIGTERM and says so)
and leave no process of the run's session behind."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import sys
import uuid
from pathlib import Path

import pytest

from tests.console_helpers import wait_until
from tests.demo import demo_environ
from tests.fixtures_ui import REPO_ROOT
from tests.test_tmux_smoke import Tmux
from tui.engine import proctree

TMUX = shutil.which("tmux") or "/usr/bin/tmux"
pytestmark = pytest.mark.skipif(not os.path.exists(TMUX), reason="tmux is not installed")

CHILD = """
import os, signal, sys, time
out = sys.argv[1]
signal.signal(signal.SIGINT, signal.SIG_IGN)
def term(signum, frame):
    open(out + ".signal", "w").write("SIGTERM")
    os._exit(143)
signal.signal(signal.SIGTERM, term)
open(out + ".tmp", "w").write(str(os.getpid()))
os.rename(out + ".tmp", out)
time.sleep(600)
"""


@pytest.mark.parametrize("how", ["kill-session", "sigterm"])
def test_the_tui_stops_its_run_when_told_to_go(tmp_path: Path, how: str) -> None:
    tmux = Tmux(f"sgl-sig-{uuid.uuid4().hex[:8]}")
    demo = demo_environ(str(tmp_path), {"TERM": "xterm-256color"})
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "SGL_CONSOLE_PLATFORMS", "SGLANG_DIFFUSION_CONFIG_ROOT",
            "SGLANG_DIFFUSION_CACHE_ROOT")
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in demo.items() if k in keep)
    pid_file = tmp_path / "child.pid"
    (tmp_path / "child.py").write_text(CHILD)
    command = shlex.join([sys.executable, str(tmp_path / "child.py"), str(pid_file)])
    console = shlex.join([sys.executable, "-m", "tui", "--command", command])
    console_pid = tmp_path / "console.pid"
    tmux("new-session", "-d", "-s", "smoke", "-x", "80", "-y", "24", "-c", str(REPO_ROOT),
         f"echo $$ > {shlex.quote(str(console_pid))}; exec env -i {exports} {console}")
    try:
        tmux.wait_for("f5 Run")
        tmux.keys("F5")
        wait_until(pid_file.exists, timeout=30, describe=tmux.screen)
        child = int(pid_file.read_text())
        assert [p.pid for p in proctree.session_members(child)] == [child]
        if how == "kill-session":
            tmux("kill-session", "-t", "smoke")
        else:
            os.kill(int(console_pid.read_text()), signal.SIGTERM)
        wait_until(lambda: not proctree.session_members(child), timeout=30,
                   describe=lambda: [p.pid for p in proctree.session_members(child)])
        assert (tmp_path / "child.pid.signal").read_text() == "SIGTERM", "stopped by the escalation, not killed"
        console_alive = lambda: proctree.alive(p) if (p := proctree.proc(int(console_pid.read_text()))) else False  # noqa: E731
        wait_until(lambda: not console_alive(), timeout=15)  # and the console itself is gone
    finally:
        tmux("kill-server", check=False)
        if pid_file.exists():
            try:
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
            except ProcessLookupError:
                pass

"""Smoke test in a real terminal: the console in tmux at 80x24 — start, switch panes, run, quit.

Uses its own tmux server socket, an isolated environment (config and cache roots in a temp
dir) and the SGLang-shaped test child, and reads the screen with ``capture-pane``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.console_helpers import wait_until
from tests.demo import demo_environ
from tests.fixtures_ui import FAKE_CHILD, REPO_ROOT

TMUX = shutil.which("tmux") or "/usr/bin/tmux"
pytestmark = pytest.mark.skipif(not os.path.exists(TMUX), reason="tmux is not installed")


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([TMUX, "-L", self.socket, *args], capture_output=True, text=True, check=check,
                              timeout=10)

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "smoke").stdout

    def wait_for(self, *texts: str, timeout: float = 30.0) -> str:
        """Capture the pane until every one of ``texts`` is on it (a frame may be drawn in parts)."""
        def on_screen() -> str:
            screen = self.screen()
            return screen if all(text in screen for text in texts) else ""

        return wait_until(on_screen, timeout=timeout, interval=0.1,
                          describe=lambda: f"{texts!r} not on screen:\n{self.screen()}")

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", "smoke", *keys)


def test_start_switch_panes_run_quit(tmp_path: Path) -> None:
    tmux = Tmux(f"sgl-smoke-{uuid.uuid4().hex[:8]}")
    # A minimal environment, not the pytest process's: earlier tests may have left variables in it
    # (caches, thread counts, Textual's own), and a real operator's shell has none of them.
    demo = demo_environ(str(tmp_path), {"TERM": "xterm-256color", "FAKE_CHILD_OUTPUT": str(tmp_path / "o.png")})
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TERM", "FAKE_CHILD_OUTPUT", "SGL_CONSOLE_PLATFORMS",
            "SGLANG_DIFFUSION_CONFIG_ROOT", "SGLANG_DIFFUSION_CACHE_ROOT")
    env = {k: v for k, v in demo.items() if k in keep}
    command = shlex.join([sys.executable, str(FAKE_CHILD), "--steps", "4"])
    console = shlex.join([sys.executable, "-m", "tui", "--command", command])
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.isidentifier())
    tmux("new-session", "-d", "-s", "smoke", "-x", "80", "-y", "24", "-c", str(REPO_ROOT),
         f"env -i {exports} {console}; sleep 0.5")
    try:
        started = time.monotonic()
        tmux.wait_for("SGLANG_DIFFUSION_TARGET_DEVICE", "Runtime", "f5 Run", "session default")
        assert time.monotonic() - started < 30
        tmux.keys("F2")
        tmux.wait_for("SGLANG_USE_MLX", "no effect on this host")
        tmux.keys("F2")
        tmux.wait_for("SGLANG_CACHE_DIT_ENABLED")
        tmux.keys("F5")
        try:
            tmux.wait_for("exited normally", timeout=60)
        except AssertionError:
            logs = sorted(tmp_path.glob("**/console/runs/*/*.log"))
            tails = "\n".join(f"== {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs)
            raise AssertionError(f"the run did not end on screen:\n{tmux.screen()}\nthe run's logs:\n{tails}") from None
        tmux.keys("F3", "F3")
        tmux.wait_for("DenoisingStage", "request #1 done")
        tmux.keys("C-q")
        wait_until(lambda: tmux("has-session", "-t", "smoke", check=False).returncode != 0, timeout=30,
                   interval=0.1, describe=lambda: "the console did not quit")
    finally:
        tmux("kill-server", check=False)

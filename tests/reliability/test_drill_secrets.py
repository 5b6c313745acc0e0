"""Drill: one marker secret in every secret variable and in the endpoint URL's password; a run
whose child prints its environment and crashes, and a real generate with upload, both through
``sgl-console run``; then every file under the config and cache roots and the output PNGs is
searched for the marker, and checked for world access.

The session file itself is where the operator keeps the secret (``source`` must give it back), so it
is only checked for its mode.  Required: 0 hits, 0 world-readable files or world-searchable folders,
and the marker in none of the run output, the dev endpoints' answers and the Storage pane's screen.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backend import envs
from tests.fixtures_backend import backend_command, clean_env
from tests.fixtures_session import REPO_ROOT
from tests.reliability.support import wait_until
from tui.session import Session

pytestmark = pytest.mark.slow
MARKER = "MarkerS3cretZq81"
TMUX = shutil.which("tmux")


def _serve_and_ask(tmp: Path, env: dict[str, str], out: Path) -> tuple[str, list[str]]:
    """Run ``serve`` under ``sgl-console run``; one upload request and the dev endpoints.  Returns the
    console's whole output and the HTTP answers."""
    argv = [sys.executable, "-m", "tui", "run", "--session", "secret", "--force", "--stop-timeout", "3", "--",
            *backend_command("serve", "--port", "0", "--no-stdin", "--max-steps", "2", "--output-path", str(out))]
    proc = subprocess.Popen(argv, cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    answers: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            match = re.search(r"Serving on http://127\.0\.0\.1:(\d+)", line)
            if match:
                base = f"http://127.0.0.1:{match.group(1)}"
                break
        else:
            raise AssertionError("serve did not start:\n" + "".join(lines[-40:]))
        body = json.dumps({"prompt": "a red circle", "steps": 2}).encode()
        request = urllib.request.Request(f"{base}/v1/images/generations", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=600) as response:
            answers.append(response.read().decode())
        for path in ("/dev/settings", "/dev/last-request", "/health"):
            with urllib.request.urlopen(base + path, timeout=60) as response:
                answers.append(response.read().decode())
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=120)
    return "".join(lines) + (rest or ""), answers


def _storage_pane(tmp: Path, env: dict[str, str]) -> str:
    """The console's Storage pane for the session, as tmux shows it."""
    if TMUX is None:
        return ""
    socket = f"sgl-secret-{uuid.uuid4().hex[:8]}"
    keep = ("PATH", "HOME", "LANG", "SGL_CONSOLE_PLATFORMS", "SGLANG_DIFFUSION_CONFIG_ROOT",
            "SGLANG_DIFFUSION_CACHE_ROOT", "PYTHONPATH")
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in {**env, "TERM": "xterm-256color"}.items()
                       if k in keep or k == "TERM")
    console = shlex.join([sys.executable, "-m", "tui", "--session", "secret"])

    def tmux(*args: str) -> str:
        return subprocess.run([TMUX, "-L", socket, *args], capture_output=True, text=True, timeout=10).stdout

    tmux("new-session", "-d", "-s", "s", "-x", "120", "-y", "40", "-c", str(REPO_ROOT), f"env -i {exports} {console}")
    try:
        wait_until(lambda: "SGLANG_DIFFUSION_TARGET_DEVICE" in tmux("capture-pane", "-p", "-t", "s"), 60,
                   "console on screen", every=0.2)
        for _ in range(3):
            tmux("send-keys", "-t", "s", "F2")
        return str(wait_until(lambda: (lambda screen: screen if "SGLANG_S3_ENDPOINT_URL" in screen else "")(
            tmux("capture-pane", "-p", "-t", "s")), 30, "Storage pane on screen", every=0.2))
    finally:
        tmux("kill-server")


def test_no_secret_on_disk(tmp_path: Path, s3_bucket: Any, figure: Callable[[str, str], None]) -> None:
    config, cache, out = tmp_path / "config", tmp_path / "cache", tmp_path / "out"
    env = clean_env(tmp_path, SGLANG_DIFFUSION_CONFIG_ROOT=str(config), PYTHONPATH=str(REPO_ROOT),
                    SGL_CONSOLE_PLATFORMS="cuda")
    session = Session.new("secret", env)
    host = s3_bucket.endpoint.split("://", 1)[1]
    values = {"SGLANG_CLOUD_STORAGE_TYPE": "s3", "SGLANG_S3_BUCKET_NAME": s3_bucket.name,
              "SGLANG_DIFFUSION_SERVER_DEV_MODE": "true",
              "SGLANG_S3_ENDPOINT_URL": f"http://drill:{MARKER}pw@{host}"}
    for var in envs.REGISTRY.values():
        if var.secret:
            values[var.name] = MARKER + var.name[-4:]
    for name, raw in values.items():
        session.set(name, raw)
    session.save()

    def console(*cmd: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tui", "run", "--session", "secret", "--force", "--", *cmd],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)

    crashed = console("sh", "-c", "env; echo Traceback; exit 3")
    served, answers = _serve_and_ask(tmp_path, env, out)
    screen = _storage_pane(tmp_path, env)
    hits, open_to_all, searched = [], [], 0
    for root in (config, cache, out):
        for path in [root, *root.rglob("*")] if root.exists() else []:
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode) and mode & (stat.S_IROTH | stat.S_IXOTH) or stat.S_ISREG(mode) and mode & stat.S_IROTH:
                open_to_all.append(f"{oct(mode & 0o777)} {path}")
            if stat.S_ISREG(mode) and path.parent != config / "console" / "sessions":  # the session file holds
                searched += 1  # the secret by design (it is what `source` reads); its mode is checked above
                if MARKER.encode() in path.read_bytes():
                    hits.append(str(path))
    shown = [name for name, text in (("crash run", crashed.stdout + crashed.stderr), ("serve run", served),
                                     ("dev endpoints", "".join(answers)), ("storage pane", screen)) if MARKER in text]
    figure("secrets", f"{searched} files searched: {len(hits)} with the secret, {len(open_to_all)} open to all users, "
                      f"secret shown by: {', '.join(shown) or 'none'}")
    assert not hits, hits
    assert not open_to_all, open_to_all
    assert not shown

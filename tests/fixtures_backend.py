"""Fixtures for real ``sgl-backend`` subprocess runs (CPU, tiny sizes, 2-4 steps).

Every run gets a clean environment: no inherited ``SGLANG_*`` variable, the cache root, perf log
dir and outputs under the test's tmp dir, one OpenMP thread (the CI box has two cores for many
jobs), and the CPU device so results do not depend on the host's GPU (``SGL_BACKEND_TEST_DEVICE``
overrides it, to rerun the same tests on a GPU host).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backend_zygote import ForkedProcess

RUN_TIMEOUT = 240
DEVICE = os.environ.get("SGL_BACKEND_TEST_DEVICE", "cpu")
"""The device backend subprocess tests run on; ``SGL_BACKEND_TEST_DEVICE=cuda`` reruns them on a GPU."""


def backend_command(*args: str) -> list[str]:
    """The installed ``sgl-backend`` script beside this interpreter, else ``python -m backend``."""
    script = Path(sys.executable).with_name("sgl-backend")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "backend", *args]


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG_")}
    env.update(
        SGLANG_DIFFUSION_CACHE_ROOT=str(tmp / "cache"),
        SGLANG_PERF_LOG_DIR=str(tmp / "logs"),
        SGLANG_DIFFUSION_TARGET_DEVICE=DEVICE,
        OMP_NUM_THREADS="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def start_backend(args: list[str], cwd: Path, env: dict[str, str], **streams: Any) -> ForkedProcess:
    """A running ``sgl-backend args``, forked from the test zygote (``tests.backend_zygote``: the same
    process, without 9 s of third-party imports).  A test about the exec'd start uses ``backend_command``."""
    return ForkedProcess(backend_command(*args), cwd, env, **streams)


def run_backend(tmp: Path, *args: str, env: dict[str, str] | None = None,
                timeout: float = RUN_TIMEOUT, **forked: Any) -> subprocess.CompletedProcess[str]:
    """Run ``sgl-backend`` to completion in ``tmp``; output captured as text, line endings as written
    (no universal-newline translation: tqdm's bare ``\r`` must stay a ``\r``).  ``forked``: the
    zygote run's ``rlimits`` and ``ignored_signals``."""
    proc = start_backend(list(args), tmp, env or clean_env(tmp), stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, **forked)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, (out or b"").decode("utf-8", "replace"),
                                       (err or b"").decode("utf-8", "replace"))


class ServeProcess:
    """A running ``sgl-backend serve`` with its stdout collected line by line."""

    def __init__(self, tmp: Path, env: dict[str, str], *args: str) -> None:
        self.proc = start_backend(["serve", "--port", "0", "--output-path", str(tmp / "out"), *args], tmp, env,
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.err: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.err), daemon=True).start()
        line = self.wait_for(r"Serving on http://127\.0\.0\.1:(\d+)")
        self.port = int(re.search(r":(\d+)", line.split("Serving on")[1]).group(1))  # type: ignore[union-attr]

    def _pump(self, stream: Any, sink: list[str]) -> None:
        for line in stream:
            with self._cond:
                sink.append(line.rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, pattern: str, timeout: float = RUN_TIMEOUT, start: int = 0, stderr: bool = False) -> str:
        """The first stdout (or ``stderr``) line from index ``start`` matching ``pattern``; fails on timeout or exit."""
        regex = re.compile(pattern)
        lines = self.err if stderr else self.lines
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in lines[start:]:
                    if regex.search(line):
                        return line
                exited = self.proc.poll() is not None
                if exited or time.monotonic() > deadline:
                    self._cond.wait(0.5)  # let the pumps drain after an exit
                    hits = [x for x in lines[start:] if regex.search(x)]
                    if hits:
                        return hits[0]
                    raise AssertionError(f"no line matching {pattern!r} (exit {self.proc.poll()}); output:\n"
                                         + "\n".join(self.lines + self.err))
                self._cond.wait(0.5)

    def responses(self) -> list[dict[str, Any]]:
        """JSON answers written to stdout (stdin transport)."""
        return [json.loads(x) for x in list(self.lines) if x.startswith("{")]

    def wait_responses(self, n: int, timeout: float = RUN_TIMEOUT) -> list[dict[str, Any]]:
        with self._cond:  # woken by every line the pumps collect
            if not self._cond.wait_for(lambda: len(self.responses()) >= n or self.proc.poll() is not None, timeout):
                raise AssertionError("missing responses; output:\n" + "\n".join(self.lines + self.err))
        if len(self.responses()) < n:
            raise AssertionError("the server exited; output:\n" + "\n".join(self.lines + self.err))
        return self.responses()

    def send(self, body: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(body) + "\n")
        self.proc.stdin.flush()

    def http(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=RUN_TIMEOUT) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"{}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, bounded wait, SIGKILL (never an unbounded wait)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


@pytest.fixture
def serve_process(tmp_path: Path) -> Iterator[Any]:
    """Factory: ``serve_process(env, *args)`` starts a server; all are stopped at teardown."""
    started: list[ServeProcess] = []

    def start(env: dict[str, str], *args: str) -> ServeProcess:
        server = ServeProcess(tmp_path, env, *args)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture()
def backend_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture the backend logger even when it does not propagate (logging_setup.configure)."""
    import logging

    backend_logger = logging.getLogger("sgl_backend")
    propagate = backend_logger.propagate
    backend_logger.addHandler(caplog.handler)
    backend_logger.propagate = False  # one copy of each record, whoever configured logging
    caplog.set_level(logging.DEBUG, logger="sgl_backend")
    try:
        yield caplog
    finally:
        backend_logger.removeHandler(caplog.handler)
        backend_logger.propagate = propagate


@pytest.fixture()
def cache_controller() -> Iterator[Any]:
    """A Cache-DiT controller, unmounted after the test: module-scoped pipelines must leave each test uncached."""
    from backend.caching.controller import CacheController

    ctl = CacheController()
    try:
        yield ctl
    finally:
        ctl.unmount()


@pytest.fixture(scope="module")
def torch_one_thread() -> Iterator[None]:
    """One torch thread for an in-process module (``pytestmark = pytest.mark.usefixtures(...)``): on a
    shared 2-core machine two threads run several times slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)

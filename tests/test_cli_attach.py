"""``sgl-console attach``: a real ``sgl-backend serve`` started by the test (its output to a file),
attached by pid, log files and dev URL, driven into a real segfault; and the pieces alone."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.console_helpers import pilot_wait_until, wait_until
from tests.fixtures_backend import clean_env
from tui.__main__ import main
from tui.attach import returncode_from_wait_status, signal_from_logs, zombie_wait_status

REPO_ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.mark.slow
def test_attach_follows_a_serve_through_a_segfault(tmp_path: Path) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(tmp_path, SGLANG_DIFFUSION_SERVER_DEV_MODE="true", SGLANG_KERNEL_API_LOGLEVEL="3",
                    SGLANG_KERNEL_API_LOGDEST=str(tmp_path / "kernel_%i.log"))
    log = tmp_path / "backend.log"
    with open(log, "wb") as out:  # started by "someone else": output to a file, not to us
        backend = subprocess.Popen(
            [sys.executable, "-m", "backend", "serve", "--port", str(port), "--no-stdin",
             "--output-path", str(tmp_path / "outputs"), "--inject-fault", "segfault@backend.attention.*"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=tmp_path)
    attach = None
    try:
        wait_until(lambda: _health(url), timeout=240, describe=lambda: (backend.poll(), log.read_text()[-800:]))
        attach = subprocess.Popen(
            [sys.executable, "-m", "tui", "attach", "--log", str(log), "--log", str(tmp_path / "kernel_%i.log"),
             "--url", url, "--pid", str(backend.pid), "--report-on-exit", "--interval", "0.2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)),
            text=True)
        assert attach.stderr is not None
        first = attach.stderr.readline()
        assert first.startswith(f"attach: pid {backend.pid} (") and f"dev endpoints at {url} (health: ok)" in first

        def request() -> None:
            body = json.dumps({"prompt": "a red circle", "steps": 2}).encode()
            req = urllib.request.Request(url + "/v1/images/generations", body, {"Content-Type": "application/json"})
            try:
                urllib.request.urlopen(req, timeout=120).read()
            except (urllib.error.URLError, ConnectionError, OSError):
                pass  # the backend dies mid-request: that is the drill

        threading.Thread(target=request, daemon=True).start()
        report, err = attach.communicate(timeout=180)
        assert attach.returncode == 1, err
        assert "How: killed by SIGSEGV" in report
        assert "Kernel API call in flight: backend.attention." in report
        assert f"Attached to pid {backend.pid}: exit status read from the process table" in report
        assert "Last dev endpoint answers" in report and '/health: {"status": "ok"' in report
    finally:
        if attach is not None and attach.poll() is None:
            attach.kill()
        if backend.poll() is None:
            backend.kill()
        backend.wait(timeout=30)
    assert backend.returncode == -signal.SIGSEGV


def test_zombie_status_of_a_process_that_is_not_ours_to_reap_yet() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"])
    try:
        wait_until(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, timeout=30)
        status = zombie_wait_status(child.pid)
        assert status is not None and returncode_from_wait_status(status) == -signal.SIGSEGV
    finally:
        child.wait(timeout=10)
    assert zombie_wait_status(child.pid) is None  # reaped: nothing left to read
    exited = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    wait_until(lambda: psutil.Process(exited.pid).status() == psutil.STATUS_ZOMBIE, timeout=30)
    status = zombie_wait_status(exited.pid)
    exited.wait(timeout=10)
    assert status is not None and returncode_from_wait_status(status) == 3


def test_signal_inferred_from_the_log() -> None:
    assert signal_from_logs(["step 1", "Fatal Python error: Segmentation fault", ""]) == signal.SIGSEGV
    assert signal_from_logs(["Fatal Python error: Aborted"]) == signal.SIGABRT
    assert signal_from_logs(["all good"]) is None


def test_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attach"]) == 2
    assert "nothing to attach to" in capsys.readouterr().err
    assert main(["attach", "--log", "x.log"]) == 2
    assert "--pid is needed" in capsys.readouterr().err
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(timeout=10)
    assert main(["attach", "--pid", str(dead.pid)]) == 2
    assert f"--pid {dead.pid}: no such process" in capsys.readouterr().err
    assert main(["attach", "--pid", str(os.getpid()), "--url", "127.0.0.1:1"]) == 2
    assert "must start with http://" in capsys.readouterr().err


async def test_console_attached_to_a_crashing_process(tmp_path: Path) -> None:
    """The TUI face: live views fed by the log file, the process tree, the crash screen at death."""
    from tests.fixtures_ui import FAKE_CHILD
    from tui.cli_attach import make_attach_app

    log = tmp_path / "child.log"
    with open(log, "wb") as out:
        child = subprocess.Popen([sys.executable, str(FAKE_CHILD), "--steps", "6", "--step-s", "0.4", "--crash", "segv",
                                  "--output", str(tmp_path / "o.png")], stdout=out, stderr=subprocess.STDOUT)
    env = {"HOME": str(tmp_path), "SGLANG_DIFFUSION_CONFIG_ROOT": str(tmp_path / "config"),
           "SGLANG_DIFFUSION_CACHE_ROOT": str(tmp_path / "cache"), "PATH": os.environ.get("PATH", "")}
    try:
        app = make_attach_app(child.pid, [str(log)], [], None, environ=env, host_platforms=frozenset({"cpu"}),
                              half_block=True, watch_config=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot_wait_until(pilot, lambda: app._crash is not None, timeout=60)
            title, text = app._crash
            assert "killed by SIGSEGV" in title
            assert "Kernel API call in flight:" in text and "DenoisingStage" in text
            from tui.screens.crash_screen import CrashScreen

            assert isinstance(app.screen, CrashScreen)
            summary = app.views.process.summary
            assert summary.startswith(f"root pid {child.pid} ")
            assert app.engine.router.stats()["lines"] > 0
            await pilot.press("escape")
            await pilot.press("f5")  # a console attached to a backend it did not start launches nothing
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.engine.plan is None
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=10)


def test_attach_reads_real_sglang_log_shapes(tmp_path: Path) -> None:
    """A process that writes SGLang 0.5.x's own stdout and level-10 kernel API log (captured
    samples), then dies by SIGSEGV: the report names the upstream call in flight."""
    data = REPO_ROOT / "tests" / "data"
    script = (
        "import os, shutil, signal, sys, time\n"
        "out, kdir = sys.argv[1], sys.argv[2]\n"
        "deadline = time.time() + 60\n"
        "while not os.path.exists(sys.argv[3]) and time.time() < deadline:  # the test says go\n"
        "    time.sleep(0.05)\n"
        f"shutil.copy({str(data / 'sglang_stdout.log')!r}, out)\n"
        f"shutil.copy({str(data / 'sglang_kernel_api_level10.log')!r}, os.path.join(kdir, f'kernel_{{os.getpid()}}.log'))\n"
        "time.sleep(0.5)\n"
        "os.kill(os.getpid(), signal.SIGSEGV)\n"
    )
    go = tmp_path / "go"
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "stdout.log"), str(tmp_path), str(go)])
    try:
        attach = subprocess.Popen(
            [sys.executable, "-m", "tui", "attach", "--pid", str(child.pid), "--log", str(tmp_path / "stdout.log"),
             "--log", str(tmp_path / "kernel_%i.log"), "--report-on-exit", "--json", "--interval", "0.2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
        assert attach.stderr is not None
        assert attach.stderr.readline().startswith(f"attach: pid {child.pid} (")
        go.touch()
        out, err = attach.communicate(timeout=120)
    finally:
        child.wait(timeout=30)
    assert attach.returncode == 1, err
    report = json.loads(out)
    assert report["exit"]["signal_name"] == "SIGSEGV"
    assert report["in_flight"]["api_name"] == "sglang.custom_op.fused_silu_mul"
    assert report["dev_endpoints"] is None


def test_attach_to_a_process_already_dead_but_not_reaped(capsys: pytest.CaptureFixture[str]) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGABRT)"])
    try:
        wait_until(lambda: psutil.Process(child.pid).status() == psutil.STATUS_ZOMBIE, timeout=30)
        assert main(["attach", "--pid", str(child.pid), "--report-on-exit"]) == 1
    finally:
        child.wait(timeout=10)
    out = capsys.readouterr().out
    assert "How: killed by SIGABRT" in out and "exit status read from the process table" in out

"""Supervisor: real subprocesses, real signals, exit decoding, stop escalation, stall detection."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from tests.console_helpers import pid_running, wait_until
from tui.router import Router
from tui.supervisor import ExitStatus, RunState, StopPolicy, Supervisor, decode_exit

PY = sys.executable
FAST = StopPolicy(sigint_timeout=0.4, sigterm_timeout=0.4, sigkill_timeout=3.0)


@pytest.fixture
def sv(tmp_path: Path):
    router = Router()
    sup = Supervisor(router, cache_root=str(tmp_path / "cache"), stop_policy=FAST)
    yield sup
    if sup.running:
        sup.stop()


def run_to_end(sv: Supervisor, code: str, argv: list[str] | None = None) -> ExitStatus:
    sv.start(argv or [PY, "-c", code], dict(os.environ))
    status = sv.wait(20)
    assert status is not None, "child did not end"
    return status


class TestExitDecoding:
    def test_negative_returncode_is_a_signal(self) -> None:
        st = ExitStatus.decode(-11)
        assert (st.signal, st.signal_name, st.exit_code) == (11, "SIGSEGV", 139)
        assert st.description == "killed by SIGSEGV (segmentation fault)"

    def test_shell_128_plus_n(self) -> None:
        st = decode_exit(134, ["/bin/sh", "-c", "x"])
        assert st.signal_name == "SIGABRT" and st.via_shell and st.exit_code == 134
        assert "128+6" in st.description
        assert decode_exit(134, [PY, "x.py"]).signal is None  # not a shell: a plain exit code

    def test_plain_codes(self) -> None:
        assert ExitStatus.decode(0).ok and ExitStatus.decode(3).description == "exited with code 3"

    def test_our_backend_codes_have_their_meaning(self) -> None:
        st = decode_exit(7, [PY, "-m", "backend", "generate"])
        assert st.description.startswith("exited with code 7: the request cannot be generated")
        assert decode_exit(7, ["other"]).meaning is None


class TestRuns:
    def test_exit_code_streams_and_logs_on_disk(self, sv: Supervisor) -> None:
        st = run_to_end(sv, "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)")
        assert st.returncode == 3 and sv.state == RunState.EXITED
        batch = sv.router.drain()
        assert [(ln.stream, ln.text) for ln in batch.lines if ln.stream == "stdout"] == [("stdout", "out")]
        assert [ln.text for ln in batch.lines if ln.is_stderr] == ["err"]
        assert [e.kind for e in batch.events] == ["started", "exited"]
        run = sv.run
        assert run is not None and Path(run.run_dir).parts[-3:-1] == ("console", "runs")
        assert Path(run.stdout_log).read_bytes() == b"out\n"
        assert Path(run.stderr_log).read_bytes() == b"err\n"

    def test_sigsegv_child(self, sv: Supervisor) -> None:
        st = run_to_end(sv, "import ctypes; ctypes.string_at(0)")
        assert st.signal_name == "SIGSEGV" and st.exit_code == 128 + signal.SIGSEGV

    def test_sigabrt_child(self, sv: Supervisor) -> None:
        st = run_to_end(sv, "import os; os.abort()")
        assert st.signal_name == "SIGABRT" and "aborted" in st.description

    def test_sigabrt_through_a_shell(self, sv: Supervisor) -> None:
        st = run_to_end(sv, "", ["sh", "-c", f"{PY} -c 'import os; os.abort()'; exit $?"])
        assert st.signal_name == "SIGABRT" and st.via_shell and st.returncode == 134

    def test_command_not_found(self, sv: Supervisor) -> None:
        with pytest.raises(OSError):
            sv.start(["/nonexistent/definitely-not-here"], dict(os.environ))
        assert sv.state == RunState.FAILED and "cannot start" in (sv.status().error or "")

    def test_long_line_tqdm_and_bad_utf8(self, sv: Supervisor) -> None:
        code = ("import sys; w=sys.stdout.buffer.write; w(b'x'*100000+b'\\n'); w(b' 10%|#| 1/10\\r 20%|#| 2/10\\r\\n');"
                "w(b'bad \\xff\\xfe end\\n'); w(b'no newline')")
        run_to_end(sv, code)
        lines = [ln for ln in sv.router.drain().lines if ln.stream == "stdout"]
        assert lines[0].truncated and len(lines[0].text) == 16 * 1024
        assert [ln.text for ln in lines[1:3]] == [" 10%|#| 1/10", " 20%|#| 2/10"] and lines[1].cr
        assert lines[3].text == "bad \ufffd\ufffd end" and lines[4].text == "no newline"
        assert os.path.getsize(sv.run.stdout_log) > 100000  # type: ignore[union-attr]

    def test_restart_runs_again(self, sv: Supervisor) -> None:
        run_to_end(sv, "print('one')")
        first = sv.run
        sv.restart()
        assert sv.wait(20) is not None and sv.run is not None and sv.run.run_id != first.run_id  # type: ignore[union-attr]
        assert sv.router.tail(1)[0].text == "one"


GRACEFUL = "import signal, sys, time\nprint('ready', flush=True)\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    sys.exit(0)\n"

STUBBORN = textwrap.dedent(f"""
    import os, signal, subprocess, sys, time
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    hold = "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    a = subprocess.Popen([{PY!r}, "-c", hold])
    b = subprocess.Popen([{PY!r}, "-c", "import os; os.setsid(); " + hold])
    print("pids", a.pid, b.pid, flush=True)
    time.sleep(60)
""")


class TestStop:
    def test_sigint_is_enough_for_a_polite_child(self, sv: Supervisor) -> None:
        # A long SIGINT grace: the point is that the escalation stops at SIGINT, not how fast an
        # interpreter exits on a loaded machine.
        sv.start([PY, "-c", GRACEFUL], dict(os.environ))
        wait_until(lambda: any(ln.text == "ready" for ln in sv.router.tail()))
        st = sv.stop(StopPolicy(sigint_timeout=30.0, sigterm_timeout=0.4, sigkill_timeout=3.0))
        assert st is not None and st.returncode == 0
        kinds = [e.text for e in sv.router.drain().events if e.kind == "stopping"]
        assert kinds == ["SIGINT sent, SIGTERM in 30.0 s"]

    def test_sigint_reaches_the_child_when_the_console_ignores_it(self, sv: Supervisor) -> None:
        """A console started with SIGINT ignored (a script's ``&`` without job control) does not pass
        that on: the child gets SIGINT's default action back, and the stop ends at SIGINT."""
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            sv.start([PY, "-c", GRACEFUL], dict(os.environ))
        finally:
            signal.signal(signal.SIGINT, old)
        wait_until(lambda: any(ln.text == "ready" for ln in sv.router.tail()))
        st = sv.stop(StopPolicy(sigint_timeout=30.0, sigterm_timeout=0.4, sigkill_timeout=3.0))
        assert st is not None and st.returncode == 0, st

    def test_escalation_leaves_no_process_alive(self, sv: Supervisor) -> None:
        sv.start([PY, "-c", STUBBORN], dict(os.environ))
        line = wait_until(lambda: next((ln for ln in sv.router.tail() if ln.text.startswith("pids")), None))
        a, b = (int(x) for x in line.text.split()[1:])
        # Both children print "up" to one pipe; their writes may interleave ("upup", ""), so count words.
        wait_until(lambda: "".join(ln.text for ln in sv.router.tail()).count("up") == 2,
                   describe=lambda: ([ln.text for ln in sv.router.tail()], sv.status(), [pid_running(p) for p in (a, b)]))
        assert os.getpgid(b) != os.getpgid(sv.pid)  # b left the group: killpg alone would miss it
        tree = [sv.pid, a, b]
        st = sv.stop()
        assert st is not None and st.signal is not None
        assert not [p for p in tree if pid_running(p)]
        texts = [e.text for e in sv.router.drain().events if e.kind == "stopping"]
        assert [t.split()[0] for t in texts] == ["SIGINT", "SIGTERM", "SIGKILL"]
        assert sv.stop_progress is not None and sv.stop_progress.text() == "stopped"

    def test_leftovers_are_reaped_when_the_main_process_exits(self, sv: Supervisor) -> None:
        code = f"import subprocess; p = subprocess.Popen([{PY!r}, '-c', 'import time; time.sleep(60)']); print(p.pid, flush=True)"
        run_to_end(sv, code)
        pid = int(sv.router.tail(1)[0].text)
        wait_until(lambda: not pid_running(pid), timeout=5)


    def test_exit_is_reported_before_stubborn_leftovers_are_killed(self, tmp_path: Path) -> None:
        sv = Supervisor(Router(), cache_root=str(tmp_path), stop_policy=StopPolicy(0.2, 3.0, 3.0))
        hold = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
        code = f"import subprocess, sys, time; p = subprocess.Popen([{PY!r}, '-c', {hold!r}]); print(p.pid, flush=True); time.sleep(0.5)"
        sv.start([PY, "-c", code], dict(os.environ))
        pid = int(wait_until(lambda: next((ln.text for ln in sv.router.tail() if ln.text.isdigit()), None)))
        wait_until(lambda: sv.state == RunState.EXITED)
        assert pid_running(pid)  # still holding our stdout, ignoring SIGTERM: the exit did not wait for it
        wait_until(lambda: not pid_running(pid), timeout=15)  # SIGKILL follows


class TestStall:
    def test_no_output_no_cpu_is_stalled(self, tmp_path: Path) -> None:
        sv = Supervisor(Router(), cache_root=str(tmp_path), stop_policy=FAST, stall_timeout=0.6)
        sv.start([PY, "-c", "print('x', flush=True); import time; time.sleep(60)"], dict(os.environ))
        try:
            wait_until(lambda: sv.state == RunState.STALLED, timeout=10)
            assert any(e.kind == "stalled" for e in sv.router.drain().events)
            first = sv.status().stalled_for
            assert first is not None and first >= 0.0  # counted from the moment the run went quiet
            wait_until(lambda: (sv.status().stalled_for or 0.0) > first)  # and it keeps counting
        finally:
            sv.stop()
        assert sv.state == RunState.EXITED

    def test_busy_child_is_not_stalled(self, tmp_path: Path) -> None:
        sv = Supervisor(Router(), cache_root=str(tmp_path), stop_policy=FAST, stall_timeout=0.6)
        sv.start([PY, "-c", "import time\nt=time.time()\nwhile time.time()-t<1.5: pass"], dict(os.environ))
        st = sv.wait(20)
        assert st is not None and st.ok
        assert not any(e.kind == "stalled" for e in sv.router.drain().events)

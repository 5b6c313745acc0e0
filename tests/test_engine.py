"""The run engine's read path: bytes only on the readers, secrets masked at the bytes, private
run files, a child that is never slowed by parsing, and floods that are sampled and said so."""

from __future__ import annotations

import os
import stat
import sys
import threading
from pathlib import Path
from typing import Any

from tests.console_helpers import wait_until
from tui.engine.masking import StreamMasker, mask_text, secret_values
from tui.engine.pump import LinePump
from tui.routed import CONSOLE, STDOUT
from tui.router import Router
from tui.supervisor import StopPolicy, Supervisor

PY = sys.executable
FAST = StopPolicy(sigint_timeout=0.4, sigterm_timeout=0.4, sigkill_timeout=3.0)
KEY = "s3cr3t-KEY-0123456789"
URL = "http://alice:pw-XYZ-9876@127.0.0.1:9000"


def secret_env() -> dict[str, str]:
    return {**os.environ, "SGLANG_S3_SECRET_ACCESS_KEY": KEY, "SGLANG_S3_ENDPOINT_URL": URL}


def mode(path: str | Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


class TestMasking:
    def test_secret_values_are_the_registry_secrets_and_url_userinfo(self) -> None:
        found = secret_values(secret_env())
        assert KEY in found and "pw-XYZ-9876" in found
        assert "alice" not in found, "a user name beside a password is no secret"
        assert secret_values({"SGLANG_S3_ENDPOINT_URL": "https://tok-123456@example.com"}) == ["tok-123456"]
        assert secret_values({"SGLANG_S3_ENDPOINT_URL": "http://127.0.0.1:9000"}) == []

    def test_a_secret_split_across_reads_is_masked(self) -> None:
        masker = StreamMasker([KEY])
        out = b""
        data = f"key={KEY} and again {KEY}\n".encode()
        for cut in range(0, len(data), 5):  # every read boundary falls somewhere in the secret
            out += masker.feed(data[cut:cut + 5])
        out += masker.flush()
        assert KEY.encode() not in out and out.count(b"********") == 2 and out.endswith(b"again ********\n")

    def test_what_only_looked_like_a_secret_start_is_released(self) -> None:
        masker = StreamMasker([KEY])
        assert masker.feed(b"prefix s3cr") == b"prefix "
        assert masker.feed(b"ets are fine\n") == b"s3crets are fine\n"
        assert masker.feed(b"tail s3") == b"tail " and masker.flush() == b"s3"

    def test_mask_text_and_short_values(self) -> None:
        assert mask_text(f"url {URL}", secret_values(secret_env())) == "url http://alice:********@127.0.0.1:9000"
        assert StreamMasker(["abc"]).active is False, "values under 4 characters are not masked"


class TestPump:
    def test_a_gap_voids_the_partial_line_and_is_reported(self) -> None:
        fed: list[str] = []
        skipped: list[int] = []
        ended: list[str] = []
        gate = threading.Event()

        def feed(stream: str, lines: list[tuple[str, bool, bool]]) -> None:
            gate.wait(10)
            fed.extend(text for text, _, _ in lines)

        pump = LinePump(feed, ended.append, lambda s, n: skipped.append(n), max_backlog=100, eof_backlog=50)
        pump.open(STDOUT)
        pump.push(STDOUT, b"first\n")
        wait_until(lambda: not pump._chunks)  # the pump holds "first" and waits on the gate
        for i in range(20):
            pump.push(STDOUT, f"line {i:02d}\n".encode())
        pump.close_stream(STDOUT)
        gate.set()
        assert pump.wait_done(10)
        assert fed[0] == "first" and fed[-1] == "line 19" and len(fed) < 21
        assert sum(skipped) == 8 * (20 - (len(fed) - 1)) and ended == [STDOUT]

    def test_a_big_read_is_parsed_a_slice_per_turn_and_no_line_is_cut(self) -> None:
        """A 1 MiB read (a reader that waited its turn) is parsed in slices, the input gate passed
        between them, so a key never waits behind the whole read; lines that straddle a slice
        boundary (a multi-byte character, a CRLF) come out whole."""
        from tui.engine.pump import TAKE_BYTES

        fed: list[str] = []
        turns: list[int] = []
        pump = LinePump(lambda s, lines: fed.extend(t for t, _, _ in lines), lambda s: None, lambda s, n: None)
        pump.before_chunk = lambda: turns.append(1)
        pump.open(STDOUT)
        line = "é" * 10 + "\r\n"  # 22 bytes: boundaries fall inside characters and between \r and \n
        count = (1 << 20) // len(line.encode())
        pump.push(STDOUT, (line * count).encode())
        assert pump.wait_idle(20)
        pump.close_stream(STDOUT)
        assert pump.wait_done(20)
        assert fed == ["é" * 10] * count
        assert len(turns) >= (count * len(line.encode())) // TAKE_BYTES


    def test_a_gap_inside_a_line_leaves_out_its_rest_too(self) -> None:
        """Bytes left out that end inside a line: what follows up to the next newline is that line's
        rest, not a line of its own; the next whole line comes through."""
        fed: list[str] = []
        gate = threading.Event()

        def feed(stream: str, lines: list[tuple[str, bool, bool]]) -> None:
            gate.wait(10)
            fed.extend(text for text, _, _ in lines)

        pump = LinePump(feed, lambda s: None, lambda s, n: None, max_backlog=40)
        pump.open(STDOUT)
        pump.push(STDOUT, b"first\n")
        wait_until(lambda: not pump._chunks)
        pump.push(STDOUT, b"0123456789" * 3 + b"-cut")  # 34 bytes, left out when the next comes
        pump.push(STDOUT, b" in the middle\nnext whole line\n")
        pump.close_stream(STDOUT)
        gate.set()
        assert pump.wait_done(10)
        assert fed == ["first", "next whole line"]


class TestReadPath:
    def test_run_files_are_private(self, tmp_path: Path) -> None:
        sv = Supervisor(Router(), cache_root=str(tmp_path / "cache"), stop_policy=FAST)
        info = sv.start([PY, "-c", "print('hi')"], dict(os.environ))
        assert sv.wait(20) is not None
        runs = tmp_path / "cache" / "console" / "runs"
        assert {mode(runs.parent.parent), mode(runs.parent), mode(runs), mode(info.run_dir)} == {0o700}
        assert mode(info.stdout_log) == 0o600 and mode(info.stderr_log) == 0o600

    def test_secrets_never_reach_the_log_or_the_router(self, tmp_path: Path) -> None:
        code = ("import os, sys, time\n"
                "k = os.environ['SGLANG_S3_SECRET_ACCESS_KEY']\n"
                "sys.stdout.write('key=' + k[:7]); sys.stdout.flush(); time.sleep(0.3)\n"
                "print(k[7:] + ' done'); print(os.environ['SGLANG_S3_ENDPOINT_URL'], file=sys.stderr)\n")
        router = Router()
        sv = Supervisor(router, cache_root=str(tmp_path / "cache"), stop_policy=FAST)
        info = sv.start([PY, "-c", code], secret_env())
        assert sv.wait(20) is not None
        logs = Path(info.stdout_log).read_bytes() + Path(info.stderr_log).read_bytes()
        assert KEY.encode() not in logs and b"pw-XYZ-9876" not in logs
        assert b"key=******** done\n" in logs and b"http://alice:********@127.0.0.1:9000" in logs
        shown = [ln.text for ln in router.tail(50)]
        assert "key=******** done" in shown and not any(KEY in t or "pw-XYZ" in t for t in shown)

    def test_the_child_is_not_slowed_by_a_stuck_parser(self, tmp_path: Path) -> None:
        """The parser is blocked for the whole run: the child still writes 8 MiB and exits, the
        run log has every byte, and what could not be parsed is counted, not waited for."""
        gate = threading.Event()

        class StuckRouter(Router):
            def feed(self, stream, lines):  # type: ignore[no-untyped-def]
                if stream != CONSOLE:
                    gate.wait(60)
                super().feed(stream, lines)

        router = StuckRouter()
        sv = Supervisor(router, cache_root=str(tmp_path / "cache"), stop_policy=FAST)
        code = "import sys\nline = b'x' * 1023 + b'\\n'\nfor _ in range(8192): sys.stdout.buffer.write(line)\n"
        info = sv.start([PY, "-c", code], dict(os.environ))
        try:
            proc = sv._proc
            assert proc is not None
            wait_until(lambda: proc.poll() is not None, timeout=60,
                       describe=lambda: os.path.getsize(info.stdout_log))
            assert not gate.is_set() and proc.returncode == 0
            wait_until(lambda: os.path.getsize(info.stdout_log) == 8192 * 1024, timeout=10)
        finally:
            gate.set()
        assert sv.wait(20) is not None
        skipped = 0
        wait_until(lambda: sv.pump.wait_done(0.1))
        batch = router.drain()
        skipped += batch.skipped_bytes
        assert skipped > 0 and batch.total_lines < 8192


def test_sgl_console_run_shows_and_writes_no_secret(tmp_path: Path) -> None:
    """A session's secrets (a key, an endpoint URL's password) on the ``running:`` line, in the
    child's output, the run logs and the crash report: masked everywhere, every file private."""
    import subprocess

    from tui.session import Session

    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG_")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), PYTHONPATH=str(root),
               SGLANG_DIFFUSION_CACHE_ROOT=str(tmp_path / "cache"))
    session = Session.new("secret", environ=env)
    session.set("SGLANG_S3_SECRET_ACCESS_KEY", KEY)
    session.set("SGLANG_S3_ENDPOINT_URL", URL)
    session.save()
    r = subprocess.run([PY, "-m", "tui", "run", "-s", "secret", "--force", "--", "sh", "-c", "env; exit 3"],
                       env=env, cwd=str(root), capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and "crash report: " in r.stderr
    assert "http://alice:********@127.0.0.1:9000" in r.stderr and "SGLANG_S3_SECRET_ACCESS_KEY=********" in r.stdout
    files = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert any(p.name == "crash_report.json" for p in files)
    for path in files:
        assert KEY.encode() not in path.read_bytes() and b"pw-XYZ-9876" not in path.read_bytes(), path
        assert mode(path) == 0o600, path
    assert KEY not in r.stdout + r.stderr and "pw-XYZ-9876" not in r.stdout + r.stderr


def test_kernel_updates_name_the_worker_each_log_came_from() -> None:
    """A ``--num-workers`` run: the backend's placement lines on stdout, one kernel API log per pid;
    the engine's kernel update says which worker (rank, pid, device) wrote each stream, and the
    Kernel API view's detail shows it."""
    from backend.records import (
        TensorDesc,
        format_log_line,
        kernel_call_begin_lines,
        kernel_call_end_lines,
        worker_placed_message,
    )
    from tui.engine.events import EventKind
    from tui.engine.run import RunEngine
    from tui.widgets.kernel_api_view import call_detail

    events: list[Any] = []
    engine = RunEngine(events.append, sample_processes=False, report_stalls=False)
    try:
        engine.router.feed(STDOUT, [format_log_line(worker_placed_message(1, 2, 4242, "cuda:1", "NVIDIA H200; 2 visible GPU(s)"))])
        x = TensorDesc((2, 3), "torch.float32", "cuda:1")
        stream = "file:/run/kernel_4242.log"
        engine.router.feed(stream, [*kernel_call_begin_lines("backend.attention.sdpa", [x]), *kernel_call_end_lines(x)])
        engine.dispatch_now()
        update = next(e.data for e in events if e.kind is EventKind.KERNEL)
        assert update.workers == {stream: "worker 1 (pid 4242, cuda:1)"}
        stream_of_call, call = update.calls[0]
        assert "worker 1 (pid 4242, cuda:1) · file:/run/kernel_4242.log" in call_detail(
            stream_of_call, call, update.workers[stream_of_call]).plain
    finally:
        engine.close()


def test_timings_updates_name_each_workers_request() -> None:
    """The same run's stage lines, tagged ``DP1`` by worker 1: the timings update's request has rank 1
    and the update labels rank 1 as the placement line did (rank, pid, device)."""
    from backend.records import format_log_line, stage_started_message, worker_placed_message
    from tui.engine.events import EventKind
    from tui.engine.run import RunEngine

    events: list[Any] = []
    engine = RunEngine(events.append, sample_processes=False, report_stalls=False)
    try:
        engine.router.feed(STDOUT, [format_log_line(worker_placed_message(1, 2, 4242, "cuda:1", "NVIDIA H200")),
                                    format_log_line(stage_started_message("DenoisingStage"), tag="DP1")])
        engine.dispatch_now()
        update = next(e.data for e in events if e.kind is EventKind.TIMINGS)
        assert update.current.rank == 1 and update.workers == {1: "worker 1 (pid 4242, cuda:1)"}
    finally:
        engine.close()

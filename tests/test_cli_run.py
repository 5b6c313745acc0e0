"""Headless twins through the real entry point: ``run`` exit codes and crash reports, ``logs parse``,
``crash-report``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
PY = sys.executable


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG_")}
    return {**base, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "SGLANG_DIFFUSION_CACHE_ROOT": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}


def console(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # cwd: the test's HOME (its tmp dir), so a backend run's default ``outputs/`` never lands in the checkout
    return subprocess.run([PY, "-m", "tui", *args], env=env, cwd=env["HOME"], capture_output=True, text=True,
                          timeout=timeout)


def crash_report_path(stderr: str) -> Path:
    line = next(ln for ln in stderr.splitlines() if "crash report: " in ln)
    return Path(line.split("crash report: ", 1)[1].split(" (and .json)")[0])


class TestRun:
    def test_success_streams_output_and_summary(self, env: dict[str, str]) -> None:
        code = textwrap.dedent("""
            import sys
            from backend.records import (format_log_line, stage_started_message, stage_finished_message,
                                         kernel_call_begin_lines, kernel_call_end_lines, ArgDesc)
            print(format_log_line(stage_started_message("DenoisingStage")))
            print("\\n".join(kernel_call_begin_lines("backend.attn", [ArgDesc("repr", "1")])
                             + kernel_call_end_lines(ArgDesc("repr", "None"))))
            print(format_log_line(stage_finished_message("DenoisingStage", 0.5)))
            print("to stderr", file=sys.stderr)
        """)
        r = console(env, "run", "--", PY, "-c", code)
        assert r.returncode == 0, r.stderr
        assert "[DenoisingStage] finished in 0.5000 seconds" in r.stdout and "to stderr" in r.stderr
        assert "stages: DenoisingStage 0.500s" in r.stderr and "kernel API calls: 1 (backend.attn x1)" in r.stderr
        assert "crash report" not in r.stderr

    def test_exit_code_3_writes_a_crash_report(self, env: dict[str, str]) -> None:
        r = console(env, "run", PY, "-c", "print('bye'); raise SystemExit(3)")
        assert r.returncode == 3
        report = crash_report_path(r.stderr)
        assert report.exists() and report.with_suffix(".json").exists()
        assert "exited with code 3" in report.read_text() and "| bye" in report.read_text()
        assert str(Path(env["SGLANG_DIFFUSION_CACHE_ROOT"]) / "console" / "runs") in str(report)

    def test_sigsegv_exits_128_plus_11(self, env: dict[str, str]) -> None:
        r = console(env, "run", "--", PY, "-c", "import ctypes; ctypes.string_at(0)")
        assert r.returncode == 128 + 11
        data = json.loads(crash_report_path(r.stderr).with_suffix(".json").read_text())
        assert data["exit"]["signal_name"] == "SIGSEGV"

    def test_refuses_a_session_with_errors(self, env: dict[str, str]) -> None:
        from tui.session import Session

        bad = Session.new("bad", environ=env)
        bad.values["SGLANG_CACHE_DIT_RDT"] = "abc"
        bad.save()
        r = console(env, "run", "--session", "bad", "--", PY, "-c", "print('never')")
        assert r.returncode == 2 and "never" not in r.stdout and "SGLANG_CACHE_DIT_RDT" in r.stderr

    def test_session_env_reaches_the_child(self, env: dict[str, str]) -> None:
        from tui.session import Session

        good = Session.new("good", environ=env)
        good.set("SGLANG_KERNEL_API_LOGLEVEL", "3")
        good.save()
        r = console(env, "-s", "good", "run", "--", PY, "-c", "import os; print(os.environ['SGLANG_KERNEL_API_LOGLEVEL'])")
        assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "3"

    def test_stall_timeout_stops_the_child(self, env: dict[str, str]) -> None:
        r = console(env, "run", "--stall-timeout", "0.6", "--stop-timeout", "0.5", "--", PY, "-c",
                    "import time; time.sleep(60)")
        assert r.returncode == 128 + 2  # SIGINT was enough
        assert "stalled" in r.stderr and "stalled" in crash_report_path(r.stderr).read_text()


class TestLogsAndCrashReport:
    def test_logs_parse_json(self, env: dict[str, str]) -> None:
        r = console(env, "logs", "parse", "--json", str(DATA / "console_crash_kernel_l10.log"))
        assert r.returncode == 0, r.stderr
        rows = [json.loads(x) for x in r.stdout.splitlines()]
        types = [row["type"] for row in rows]
        assert types.count("KernelApiCall") == 4 and "StageFinished" in types and "ProgressRecord" in types
        open_calls = [row["record"]["api_name"] for row in rows if row["type"] == "KernelApiCall"
                      and not row["record"]["completed"]]
        assert open_calls == ["backend.transformer.Block.forward", "backend.attention.sdpa"]

    def test_logs_parse_text_and_missing_file(self, env: dict[str, str]) -> None:
        r = console(env, "logs", "parse", str(DATA / "console_crash_kernel_l10.log"))
        assert "StageFinished stage=TextEncodingStage seconds=0.0123" in r.stdout
        missing = console(env, "logs", "parse", "/nonexistent.log")
        assert missing.returncode == 2 and "no such file" in missing.stderr

    def test_real_sglang_shapes(self, env: dict[str, str]) -> None:
        r = console(env, "logs", "parse", "--json", str(DATA / "sglang_stdout.log"), str(DATA / "sglang_perf_dump.json"))
        assert r.returncode == 0, r.stderr
        types = {json.loads(x)["type"] for x in r.stdout.splitlines()}
        assert {"StageStarted", "StageError", "CudaError", "OutputSaved", "Uploaded", "PerfDumpReport"} <= types
        crash = console(env, "crash-report", "--json", "--log", str(DATA / "sglang_kernel_api_level10.log"),
                        "--dump-dir", str(DATA / "kernel_api_dumps"))
        call = json.loads(crash.stdout)["in_flight"]
        assert call["api_name"] == "sglang.custom_op.fused_silu_mul" and call["dump_status"] == "inputs_saved"

    def test_crash_report_on_disk(self, env: dict[str, str]) -> None:
        r = console(env, "crash-report", "--log", str(DATA / "console_crash_kernel_l10.log"),
                    "--dump-dir", str(DATA / "console_crash_dumps"), "--exit-code", "139", "--json")
        assert r.returncode == 0, r.stderr
        data = json.loads(r.stdout)
        assert data["in_flight"]["api_name"] == "backend.attention.sdpa" and data["exit"]["signal_name"] == "SIGSEGV"
        text = console(env, "crash-report", "--log", str(DATA / "console_crash_kernel_l10.log"))
        assert "Kernel API call in flight: backend.attention.sdpa" in text.stdout
        assert console(env, "crash-report").returncode == 2

    @pytest.mark.parametrize("cmd", [["run"], ["logs", "parse"], ["crash-report"]])
    def test_help(self, env: dict[str, str], cmd: list[str]) -> None:
        r = console(env, *cmd, "--help")
        assert r.returncode == 0 and "usage: sgl-console" in r.stdout


@pytest.mark.slow
class TestRealBackend:
    """Our backend on CPU through ``sgl-console run`` (tiny sizes, 2 steps)."""

    def backend_env(self, env: dict[str, str], tmp_path: Path, **extra: str) -> dict[str, str]:
        return {**env, "SGLANG_PERF_LOG_DIR": str(tmp_path / "logs"), "SGLANG_DIFFUSION_TARGET_DEVICE": "cpu",
                "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", **extra}

    def test_timings_and_kernel_api_blocks(self, env: dict[str, str], tmp_path: Path) -> None:
        e = self.backend_env(env, tmp_path, SGLANG_KERNEL_API_LOGLEVEL="3", SGLANG_DIFFUSION_STAGE_LOGGING="1")
        r = console(e, "run", "--quiet", "--prompt", "a red square", "--steps", "2", timeout=240)
        assert r.returncode == 0, r.stderr
        assert "DenoisingStage" in r.stderr and "steps: 2" in r.stderr, r.stderr
        assert "kernel API calls:" in r.stderr and "backend.attention.sdpa_attention" in r.stderr, r.stderr
        assert "output: " in r.stderr, r.stderr

    def test_drilled_segfault_names_the_faulting_call(self, env: dict[str, str], tmp_path: Path) -> None:
        e = self.backend_env(env, tmp_path, SGLANG_KERNEL_API_LOGLEVEL="10",
                             SGLANG_KERNEL_API_DUMP_DIR=str(tmp_path / "dumps"),
                             SGLANG_KERNEL_API_DUMP_INCLUDE="backend.attention.*",
                             SGLANG_KERNEL_API_LOGDEST=str(tmp_path / "kernel_%i.log"))
        r = console(e, "run", "--quiet", "--", PY, "-m", "backend", "generate", "--prompt", "a red square",
                    "--num-inference-steps", "2", "--inject-fault", "segfault@backend.attention.*:3", timeout=240)
        assert r.returncode == 139, r.stderr
        data = json.loads(crash_report_path(r.stderr).with_suffix(".json").read_text())
        call = data["in_flight"]
        assert call["api_name"] == "backend.attention.sdpa_attention" and call["source"] == "log+dump"
        assert call["dump_status"] == "inputs_saved" and call["dump_path"].endswith("_call0003")
        assert call["args"][0]["shape"] and call["stream"].startswith("file:")

    def test_a_fault_on_worker_1_is_reported_as_worker_1_and_worker_0s_image_is_kept(
            self, env: dict[str, str], tmp_path: Path) -> None:
        """Two workers (CPU), an exception injected on worker 1 only: the crash report names worker 1,
        its pid and device and the call that raised; worker 0 finished and its image is kept; the same
        report comes from the files alone (``crash-report``); no process survives.  The summary gives
        each worker's own timings (its ``DP<r>``-tagged stage lines and its ``performance.log`` record)."""
        import psutil

        e = self.backend_env(env, tmp_path, SGLANG_KERNEL_API_LOGLEVEL="3", SGLANG_DIFFUSION_STAGE_LOGGING="1",
                             SGLANG_KERNEL_API_LOGDEST=str(tmp_path / "kernel_%i.log"))
        r = console(e, "run", "--quiet", "--", PY, "-m", "backend", "generate", "--prompt", "a red square",
                    "--num-inference-steps", "2", "--height", "64", "--width", "64", "--batch-size", "2",
                    "--num-workers", "2", "--output-path", str(tmp_path / "out"),
                    "--inject-fault", "exception@backend.attention.*:2,rank=1", timeout=240)
        assert r.returncode == 9, r.stderr
        data = json.loads(crash_report_path(r.stderr).with_suffix(".json").read_text())
        workers = {w["rank"]: w for w in data["workers"]}
        assert workers[0]["device"] == "cpu" and workers[0]["outputs"] == 1 and workers[0]["exit_code"] == 0
        assert workers[1]["exit_code"] == 9 and workers[1]["outputs"] == 0
        assert data["process"]["worker"] == 1 and data["process"]["pid"] == workers[1]["pid"]
        assert data["process"]["device"] == "cpu"
        assert data["last_call"]["api_name"] == "backend.attention.sdpa_attention"
        # the request is worker 1's own (its DP1 lines), not worker 0's that completed meanwhile
        assert data["request"]["request_id"].endswith("-1") and data["request"]["outcome"] == "failed"
        assert data["request"]["stage"] == "DenoisingStage" and data["request"]["step"] == 0
        text = crash_report_path(r.stderr).read_text()
        assert f"Process: worker 1, pid {workers[1]['pid']}, on cpu" in text
        assert f"worker 0 (pid {workers[0]['pid']}, cpu): finished: 1 output(s), complete and kept" in text
        assert len(list((tmp_path / "out").glob("*.png"))) == 1
        timed = re.search(rf"worker 0 \(pid {workers[0]['pid']}, cpu\): 1 request\(s\), total [0-9.]+s, "
                          r"2 steps, mean [0-9.]+ ms", r.stderr)
        assert timed, r.stderr
        assert re.search(rf"worker 1 \(pid {workers[1]['pid']}, cpu\): 1 request\(s\)(?!.*steps)", r.stderr), r.stderr
        assert not [p for p in (workers[0]["pid"], workers[1]["pid"]) if psutil.pid_exists(p)
                    and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        logs = [str(p) for p in sorted(crash_report_path(r.stderr).parent.glob("*.log"))]
        logs += [str(p) for p in sorted(tmp_path.glob("kernel_*.log"))]
        again = console(e, "crash-report", "--json", *(a for log in logs for a in ("--log", log)), timeout=60)
        from_files = json.loads(again.stdout)
        assert from_files["process"]["worker"] == 1, again.stdout[-2000:]
        assert from_files["request"]["request_id"] == data["request"]["request_id"]
        assert [w["rank"] for w in from_files["workers"]] == [0, 1]

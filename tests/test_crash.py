"""Crash analysis: fixture logs and dumps, a real SIGSEGV child printing kernel API blocks, and the
backend's own fault drills (SIGSEGV, SIGABRT) through the supervisor."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from tests.console_helpers import wait_until
from tui.crash import analyze_files, analyze_router, rerun_env
from tui.router import Router
from tui.supervisor import ExitStatus, Supervisor

DATA = Path(__file__).parent / "data"
LOG = DATA / "console_crash_kernel_l10.log"
DUMPS = DATA / "console_crash_dumps"
ROOT = Path(__file__).resolve().parents[1]


class TestFromFiles:
    def test_names_the_in_flight_call_with_args_and_dump(self) -> None:
        report = analyze_files([str(LOG)], [str(DUMPS)], exit=ExitStatus.decode(-11))
        call = report.in_flight
        assert call is not None and call.api_name == "backend.attention.sdpa"
        assert call.source == "log+dump" and call.enclosing == ("backend.transformer.Block.forward",)
        first = call.args[0]
        assert (first.shape, first.dtype, first.nan_count, first.inf_count) == ((2, 8, 4096, 64), "torch.float16", 12, 3)
        assert [a.name for a in call.args] == ["arg[0]", "arg[1]", "arg[2]", "scale"]
        assert call.dump_path is not None and call.dump_path.endswith("_call0002") and call.dump_status == "inputs_saved"
        assert report.how == "killed by SIGSEGV (segmentation fault)" and report.abnormal
        assert report.api_counts == {"backend.attention.sdpa": 2, "backend.transformer.Block.forward": 2}
        assert report.tail[-1].endswith("line 88 in sdpa") and len(report.tail) <= 50
        text = report.to_text()
        assert "Kernel API call in flight: backend.attention.sdpa" in text and "nan=12" in text
        data = json.loads(report.to_json())
        assert data["in_flight"]["api_name"] == "backend.attention.sdpa" and data["exit"]["signal_name"] == "SIGSEGV"

    def test_dumps_alone(self) -> None:
        report = analyze_files([], [str(DUMPS)])
        call = report.in_flight
        assert call is not None and call.source == "dump" and call.pid == 4242
        assert {a.name for a in call.args} >= {"arg_0", "scale"} and not report.abnormal
        one_folder = next(p for p in DUMPS.iterdir() if p.name.endswith("call0002"))
        assert analyze_files([], [str(one_folder)]).in_flight.dump_status == "inputs_saved"  # type: ignore[union-attr]

    def test_write_text_and_json(self, tmp_path: Path) -> None:
        txt, js = analyze_files([str(LOG)]).write(tmp_path)
        assert Path(txt).read_text().startswith("RUN REPORT") and json.loads(Path(js).read_text())["in_flight"]


def test_rerun_env_raises_the_level() -> None:
    env = {"A": "1", "SGLANG_KERNEL_API_LOGLEVEL": "0"}
    assert rerun_env(env, 5) == {"A": "1", "SGLANG_KERNEL_API_LOGLEVEL": "5"}
    assert rerun_env({"SGLANG_KERNEL_API_LOGLEVEL": "10"}, 3)["SGLANG_KERNEL_API_LOGLEVEL"] == "10"
    with pytest.raises(ValueError):
        rerun_env(env, 4)
    assert env["SGLANG_KERNEL_API_LOGLEVEL"] == "0"


def supervise(tmp_path: Path, argv: list[str], env: dict[str, str]) -> tuple[Router, ExitStatus]:
    router = Router()
    sv = Supervisor(router, cache_root=str(tmp_path / "cache"))
    sv.start(argv, env, cwd=str(tmp_path))
    status = sv.wait(60)
    assert status is not None
    return router, status


def test_real_sigsegv_child_printing_kernel_blocks(tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import ctypes, sys
        from backend.records import TensorDesc, kernel_call_begin_lines, kernel_call_end_lines
        t = TensorDesc((1, 77, 768), "torch.float32", "cpu")
        print("\\n".join(kernel_call_begin_lines("backend.text_encoder.encode", [t]) + kernel_call_end_lines(t)))
        print("\\n".join(kernel_call_begin_lines("backend.vae.decode", [t])), flush=True)
        ctypes.string_at(0)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    router, status = supervise(tmp_path, [sys.executable, "-c", code], env)
    report = analyze_router(router, status)
    assert report.signal_name == "SIGSEGV" and report.exit_code == 139
    assert report.in_flight is not None and report.in_flight.api_name == "backend.vae.decode"
    assert report.in_flight.args[0].shape == (1, 77, 768) and report.in_flight.stream == "stdout"


DRILL = """
import sys
from backend.kernel_api import faults
faults.install(faults.parse_fault_spec(sys.argv[1]))
import torch
from backend.kernel_api.api_logging import debug_kernel_api

@debug_kernel_api(name="backend.attention.sdpa")
def sdpa(q, k):
    return q @ k.T

sdpa(torch.ones(4, 8), torch.ones(4, 8))
sdpa(torch.full((4, 8), float("nan")), torch.ones(4, 8))
"""


@pytest.mark.slow
@pytest.mark.parametrize(("fault", "signal_name"), [("segfault", "SIGSEGV"), ("abort", "SIGABRT")])
def test_backend_fault_drills(tmp_path: Path, fault: str, signal_name: str) -> None:
    pytest.importorskip("torch")
    script = tmp_path / "drill.py"
    script.write_text(DRILL)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SGLANG_KERNEL_API_LOGLEVEL": "10",
           "SGLANG_KERNEL_API_DUMP_DIR": str(tmp_path / "dumps_%i")}
    router, status = supervise(tmp_path, [sys.executable, str(script), f"{fault}@backend.attention.*:2"], env)
    assert status.signal_name == signal_name
    dump_roots = [str(p) for p in tmp_path.glob("dumps_*")]
    report = analyze_router(router, status, dump_roots=dump_roots)
    call = report.in_flight
    assert call is not None and call.api_name == "backend.attention.sdpa" and call.source == "log+dump"
    assert call.args[0].nan_count == 32 and call.args[0].shape == (4, 8)
    assert call.dump_status == "inputs_saved" and call.dump_path is not None and call.dump_path.endswith("call0002")
    wait_until(lambda: Path(call.dump_path, "metadata.json").exists())  # type: ignore[arg-type]


# ---- genuine upstream logs (sglang 0.5.23's own logging code; tests/data/upstream) -------------------

from tests.upstream_data import logs, manifest, refuse_constant, scenario  # noqa: E402
from tui.crash_calls import BETWEEN_CALLS, IN_FLIGHT, LAST_LOGGED, RAISED  # noqa: E402

SHAPE_MISMATCH = "Expected size for first two dimensions of batch2 tensor"
SDPA = "multimodal_gen.runtime.layers.attention.backends.sdpa.sdpa"


def strict(text: str) -> dict:  # type: ignore[type-arg]
    return json.loads(text, parse_constant=refuse_constant)  # type: ignore[no-any-return]


@pytest.mark.parametrize("level", [1, 3, 5, 10])
def test_story_names_process_request_stage_step_and_call(level: int) -> None:
    """req-2 failed (CPU shape mismatch) and was handled; req-4 was SIGKILLed inside sdpa at step 1."""
    name = f"level{level}"
    dumps = [str(scenario(name) / "dumps")] if level == 10 else []
    report = analyze_files(logs(name), dumps, exit=ExitStatus.decode(-9))
    req = report.request
    assert req is not None and req["label"] == "prompt 4/4" and req["outcome"] == "in flight when the process died"
    assert (req["stage"], req["stage_state"], req["step"], req["total_steps"]) == ("DenoisingStage", "in flight", 1, 4)
    # The handled error of req-2 is history: listed as survived, never the headline, never "CUDA".
    assert report.cuda_errors == [] and report.fatal_errors == []
    assert report.last_exception_call is None
    assert any(SHAPE_MISMATCH in e["text"] and e["request"] == "prompt 2/4" for e in report.handled_errors)
    headline = report.headline()
    assert SHAPE_MISMATCH not in headline and "prompt 4/4" in headline and "denoising_step_1" in headline
    text = report.to_text()
    assert "Earlier errors the run survived" in text and "CUDA errors" not in text
    if level == 1:
        assert report.call_status == LAST_LOGGED and report.in_flight is None
        assert report.last_call is not None and report.last_call.api_name == SDPA
        assert "level 1 cannot tell whether it finished" in headline and "in flight: " not in headline
    else:
        assert report.call_status == IN_FLIGHT and report.in_flight is not None
        assert report.in_flight.api_name == SDPA and f"in flight: {SDPA}" in headline
        assert [a.name for a in report.in_flight.args] == ["arg[0]", "arg[1]", "arg[2]", "causal"]
    if level == 10:
        assert report.in_flight is not None and report.in_flight.dump_status == "inputs_saved"
        assert report.in_flight.source == "log+dump"
    first = report.first_non_finite
    if level >= 5:
        assert first is not None and first["api_name"] == "jit_kernel.norm.rmsnorm"
        assert (first["part"], first["argument"], first["nan_count"]) == ("input", "arg[0]", 1)
        assert "First NaN/Inf: jit_kernel.norm.rmsnorm" in text and "input arg[0]: nan=1" in text
    else:
        assert first is None
    data = strict(report.to_json())
    assert data["request"]["step"] == 1 and data["call_status"] == report.call_status


def test_no_kernel_log_still_names_stage_and_step() -> None:
    report = analyze_files(logs("level0_kill_in_step"), exit=ExitStatus.decode(-9))
    req = report.request
    assert req is not None and (req["label"], req["stage"], req["step"]) == ("prompt 2/2", "DenoisingStage", 2)
    assert req["request_id"] is None and report.call_status is None
    assert "DenoisingStage in flight, denoising_step_2 (step 3 of 4" in report.headline()
    # performance.log names the request that completed.
    assert "Kernel API call in flight: none found" in report.to_text()


def test_death_outside_any_call_at_level_1_and_3() -> None:
    l1 = analyze_files(logs("kill_outside_kernel_l1"), exit=ExitStatus.decode(-9))
    assert l1.call_status == LAST_LOGGED and l1.in_flight is None
    assert "last call logged (level 1 cannot tell whether it finished): jit_kernel.activation.silu_and_mul" in l1.headline()
    l3 = analyze_files(logs("kill_outside_kernel_l3"), exit=ExitStatus.decode(-9))
    assert l3.call_status == BETWEEN_CALLS and l3.in_flight is None
    assert "died outside any kernel call" in l3.to_text() and "in flight: " not in l3.headline()


def test_fatal_cuda_error_after_a_handled_cpu_error() -> None:
    name = "handled_then_cuda_error"
    report = analyze_files(logs(name), [str(scenario(name) / "dumps")], exit=ExitStatus.decode(1))
    assert report.cuda_errors == ["CUDA error: an illegal memory access was encountered"]
    req = report.request
    assert req is not None and (req["label"], req["outcome"], req["step"], req["step_source"]) == (
        "prompt 3/3", "failed", 2, "step error")
    assert report.call_status == RAISED and report.last_exception_call is not None
    assert "illegal memory access" in report.last_exception_call["message"]
    assert SHAPE_MISMATCH not in report.headline() and "illegal memory access" in report.headline()
    assert any(SHAPE_MISMATCH in e["text"] for e in report.handled_errors)
    assert all(SHAPE_MISMATCH not in e["text"] for e in report.fatal_errors)


def test_dump_metadata_exception_with_only_dump_dir() -> None:
    report = analyze_files([], [str(scenario("handled_then_cuda_error") / "dumps")])
    call = report.in_flight
    assert call is not None and call.source == "dump" and call.dump_status == "exception"
    assert call.dump_exception == {"type": "RuntimeError",
                                   "message": "CUDA error: an illegal memory access was encountered"}
    assert "dump exception: RuntimeError: CUDA error" in report.to_text()
    assert "illegal memory access" in report.headline()
    assert any(SHAPE_MISMATCH in e["text"] for e in report.handled_errors)


def test_multiprocess_logs_name_the_pid_that_died() -> None:
    procs = manifest()["scenarios"]["multiproc"]["processes"]
    dead = next(p["pid"] for p in procs if p["returncode"] == -9)
    alive = next(p["pid"] for p in procs if p["returncode"] == 0)
    report = analyze_files(logs("multiproc"))
    assert report.process is not None and report.process["pid"] == dead
    assert report.in_flight is not None and report.in_flight.api_name == SDPA and report.in_flight.pid == dead
    assert f"pid {dead}" in report.headline()
    assert {p["pid"]: p["ends"] for p in report.processes} == {dead: IN_FLIGHT, alive: BETWEEN_CALLS}


def test_several_logs_merged_by_time_for_the_tail() -> None:
    report = analyze_files(logs("level3"), exit=ExitStatus.decode(-9))
    assert any("[DenoisingStage] started..." in t for t in report.tail)  # stdout
    assert any("SGLang Kernel API Call:" in t for t in report.tail)  # kernel_api.log
    assert any("1/4" in t and "%|" in t for t in report.tail)  # stderr, tqdm's last fragment


def test_json_is_strict_when_a_tensor_holds_nan(tmp_path: Path) -> None:
    """Cut the genuine level-5 log inside the first NaN call (as a death there would): min=nan in JSON."""
    lines = (scenario("level5") / "kernel_api.log").read_text().splitlines(keepends=True)
    first_nan = next(i for i, ln in enumerate(lines) if ln.strip() == "nan_count=1")
    cut = next(i for i in range(first_nan, len(lines)) if lines[i].startswith("Output:"))
    log = tmp_path / "kernel_api.log"
    log.write_text("".join(lines[:cut]))
    report = analyze_files([str(log)], exit=ExitStatus.decode(-9))
    assert report.in_flight is not None and report.in_flight.args[0].nan_count == 1
    assert report.in_flight.args[0].min is not None and report.in_flight.args[0].min != report.in_flight.args[0].min
    data = strict(report.to_json())
    assert data["in_flight"]["args"][0]["min"] == "nan" and data["in_flight"]["args"][0]["nan_count"] == 1


@pytest.mark.slow
def test_our_backend_upload_failure_at_level_1_says_it_cannot_tell(tmp_path: Path, s3_bucket: object) -> None:
    """Exit 11 (upload failed) happens after every kernel call returned: level 1 must not claim one in flight."""
    from backend.exit_codes import ExitCode
    from tests.fixtures_backend import clean_env, run_backend
    from tests.fixtures_s3 import TEST_KEY_ID, TEST_SECRET

    env = clean_env(tmp_path, SGLANG_CLOUD_STORAGE_TYPE="s3", SGLANG_S3_BUCKET_NAME=s3_bucket.name + "-missing",  # type: ignore[attr-defined]
                    SGLANG_S3_ENDPOINT_URL=s3_bucket.endpoint, SGLANG_S3_ACCESS_KEY_ID=TEST_KEY_ID,  # type: ignore[attr-defined]
                    SGLANG_S3_SECRET_ACCESS_KEY=TEST_SECRET, SGLANG_KERNEL_API_LOGLEVEL="1")
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "2", env=env)
    assert proc.returncode == ExitCode.UPLOAD_FAILED, proc.stdout + proc.stderr
    log = tmp_path / "captured_stdout.log"
    log.write_text(proc.stdout)
    report = analyze_files([str(log)], exit=ExitStatus.decode(proc.returncode))
    assert report.kernel_calls_seen > 0 and report.call_status == LAST_LOGGED and report.in_flight is None
    assert "level 1 cannot tell whether it finished" in report.headline()
    assert "Kernel API call in flight:" not in report.to_text()


def test_first_nan_names_request_stage_and_step_when_one_stream_holds_everything() -> None:
    """'> console.log 2>&1': kernel blocks, stage lines and tqdm fragments in write order."""
    report = analyze_files(logs("merged_l5"), exit=ExitStatus.decode(-9))
    first = report.first_non_finite
    assert first is not None and first["api_name"] == "jit_kernel.norm.rmsnorm"
    assert (first["request"], first["stage"], first["step"]) == ("prompt 3/4", "DenoisingStage", 0)
    assert "request: prompt 3/4, DenoisingStage, denoising_step_0" in report.to_text()
    assert report.in_flight is not None and report.in_flight.api_name == SDPA
    req = report.request
    assert req is not None and (req["label"], req["step"]) == ("prompt 4/4", 1)
    # A separate kernel log file cannot place the call within a step: it says so.
    separate = analyze_files(logs("level5"), exit=ExitStatus.decode(-9)).first_non_finite
    assert separate is not None and separate["step"] is None and separate["step_note"]


def test_live_run_replaying_genuine_output_then_sigkilled(tmp_path: Path) -> None:
    """A real child writes sglang's own merged output (stdout) and kills itself: the console's live
    analysis (router + the run's stdout.log) names request, stage, step, call and the first NaN."""
    code = textwrap.dedent("""
        import os, signal, sys
        data = open(sys.argv[1], "rb").read()
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    router = Router()
    sv = Supervisor(router, cache_root=str(tmp_path / "cache"))
    sv.start([sys.executable, "-c", code, str(scenario("merged_l5") / "console.log")], dict(os.environ),
             cwd=str(tmp_path))
    status = sv.wait(60)
    assert status is not None and status.signal_name == "SIGKILL"
    run = sv.run
    assert run is not None
    report = analyze_router(router, status, run_dir=run.run_dir)
    req = report.request
    assert req is not None and (req["label"], req["stage"], req["step"]) == ("prompt 4/4", "DenoisingStage", 1)
    assert report.call_status == IN_FLIGHT and report.in_flight is not None and report.in_flight.api_name == SDPA
    assert SHAPE_MISMATCH not in report.headline() and report.cuda_errors == []
    first = report.first_non_finite
    assert first is not None and first["api_name"] == "jit_kernel.norm.rmsnorm"
    assert (first["request"], first["step"]) == ("prompt 3/4", 0)
    strict(report.to_json())


def test_read_source_tail_starts_at_a_whole_line() -> None:
    from tui.crash_scope import read_source

    path = scenario("level5") / "stdout.log"
    whole = read_source(str(path))
    tail = read_source(str(path), max_bytes=600)
    assert 0 < len(tail) < len(whole)
    assert [ln.text for ln in tail] == [ln.text for ln in whole[-len(tail):]]

"""Fault drills: spec parsing, and real crashing subprocesses read back through the kernel API log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from backend import records as r
from backend.kernel_api import faults
from tests.backend_zygote import ForkedProcess
from tests.console_helpers import wait_until

ROOT = Path(__file__).resolve().parents[1]

DRILL = """\
import os, signal, sys, torch
from backend.kernel_api import faults
from backend.kernel_api.api_logging import debug_kernel_api
faults.install(faults.FaultPlan.parse(sys.argv[1:]))
signal.signal(signal.SIGTERM, lambda *_: None)  # a handler that only notes the signal must not keep a hang alive
DEVICE = os.environ.get("DRILL_DEVICE", "cpu")

@debug_kernel_api
def warmup(x):
    return x + 1

@debug_kernel_api
def kernel(x, *, scale=1.0):
    return x * scale

warmup(torch.ones(3, device=DEVICE))
for scale in (2.0, 3.0):
    kernel(torch.ones(2, 2, device=DEVICE), scale=scale)
print("drill finished", flush=True)
"""


# ---- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "spec"),
    [
        ("segfault", faults.FaultSpec("segfault")),
        ("abort@backend.attention.*", faults.FaultSpec("abort", "backend.attention.*")),
        ("nan@*decode*:2", faults.FaultSpec("nan", "*decode*", 2)),
        ("exit=3", faults.FaultSpec("exit", "*", 1, 3)),
        ("exit=0@x:10", faults.FaultSpec("exit", "x", 10, 0)),
        ("hang:4", faults.FaultSpec("hang", "*", 4)),
        ("device-assert@backend.vae.*", faults.FaultSpec("device-assert", "backend.vae.*")),
        ("exception@*attention*:2,rank=1", faults.FaultSpec("exception", "*attention*", 2, rank=1)),
        ("segfault,rank=0", faults.FaultSpec("segfault", rank=0)),
    ],
)
def test_parse_valid(value: str, spec: faults.FaultSpec) -> None:
    assert faults.parse_fault_spec(value) == spec
    assert faults.parse_fault_spec(str(spec)) == spec


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "empty value"),
        ("explode", "unknown fault kind 'explode'"),
        ("nan:0", "call number '0'"),
        ("nan:x", "call number 'x'"),
        ("nan@", "empty API pattern"),
        ("abort=3", "only allowed for exit"),
        ("exit=256", "exit code '256'"),
        ("nan,rank=one", "rank 'one' is not a worker rank"),
        ("nan,rank=-1", "rank '-1' is not a worker rank"),
    ],
)
def test_parse_errors_name_flag_value_and_choices(value: str, problem: str) -> None:
    with pytest.raises(faults.FaultSpecError) as info:
        faults.parse_fault_spec(value)
    msg = str(info.value)
    assert msg.startswith(f"--inject-fault {value!r}: ") and problem in msg
    assert "segfault, abort, exception, nan, hang, exit, device-assert" in msg


def test_plan_counts_matching_calls() -> None:
    plan = faults.FaultPlan.parse(["nan@backend.a.*:3"])
    assert plan.targets("backend.a.x") and not plan.targets("backend.b.x")
    fired = [
        plan.arm(api) for api in ("backend.a.x", "backend.b.x", "backend.a.y", "backend.a.x", "backend.a.x")
    ]
    assert fired == [None, None, None, faults.FaultSpec("nan", "backend.a.*", 3), None]


def test_a_fault_scoped_to_a_rank_goes_to_that_worker_only() -> None:
    plan = faults.FaultPlan.parse(["exception@*attention*,rank=1", "nan@*vae*"])
    assert [str(s) for s in plan.for_rank(0).specs] == ["nan@*vae*:1"]
    assert [str(s) for s in plan.for_rank(1).specs] == ["exception@*attention*:1,rank=1", "nan@*vae*:1"]


def test_a_rank_the_run_does_not_have_is_refused_with_the_ranks_it_has() -> None:
    from backend.exit_codes import BackendError, ExitCode
    from backend.server.runtime import install_faults

    with pytest.raises(BackendError) as info:
        install_faults(["exception,rank=2"], rank=0, processes=2)
    assert info.value.code == ExitCode.USAGE
    assert "--inject-fault 'exception@*:1,rank=2': rank 2, but this run has 2 process(es) (ranks 0..1" in info.value.message
    assert faults.installed() is None


def test_device_assert_needs_cuda() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("CUDA present: the drill itself runs on the device machine")
    with pytest.raises(faults.FaultSpecError, match="device-assert needs CUDA"):
        faults.install(faults.parse_fault_spec("device-assert"))
    assert faults.installed() is None


# ---- real subprocess drills ----------------------------------------------------------------------


def _start(tmp_path: Path, spec: str, level: int = 10, device: str = "cpu") -> ForkedProcess:
    """The drill as its own process (forked from the test zygote, which has torch imported)."""
    script = tmp_path / "drill.py"
    script.write_text(DRILL)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SGLANG_KERNEL_API_LOGLEVEL": str(level),
        "SGLANG_KERNEL_API_LOGDEST": str(tmp_path / "kapi_%i.log"),
        "SGLANG_KERNEL_API_DUMP_DIR": str(tmp_path / "dumps_%i"),
        "DRILL_DEVICE": device,
    }
    return ForkedProcess([sys.executable, str(script), spec], tmp_path, env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)


def _run(
    tmp_path: Path,
    spec: str,
    level: int = 10,
    device: str = "cpu",
) -> tuple[int, list[r.KernelApiCall], int]:
    proc = _start(tmp_path, spec, level, device)
    _, err = proc.communicate(timeout=120)
    print(err)
    log = tmp_path / f"kapi_{proc.pid}.log"
    calls = r.parse_kernel_api_log(log.read_text()) if log.exists() else []
    return proc.returncode, calls, proc.pid


def _assert_in_flight(calls: list[r.KernelApiCall], pid: int, tmp_path: Path, status: str) -> r.KernelApiCall:
    last = calls[-1]
    assert last.api_name == "drill.kernel"
    assert last.inputs[1] == ("scale", r.ArgDesc("repr", "3.0"))  # the second kernel call
    assert last.dumped_inputs_dir is not None and last.dumped_inputs_dir.endswith(
        f"_pid{pid}_drill.kernel_call0002"
    )
    assert Path(last.dumped_inputs_dir).parent == tmp_path / f"dumps_{pid}"
    meta = r.read_dump_metadata(last.dumped_inputs_dir)
    assert meta.execution_status == status and meta.input_tensor_keys == ("arg_0",)
    assert [c.completed for c in calls[:-1]] == [True, True]
    return last


@pytest.mark.parametrize(("kind", "signum"), [("segfault", signal.SIGSEGV), ("abort", signal.SIGABRT)])
def test_native_crash_leaves_call_in_flight(tmp_path: Path, kind: str, signum: int) -> None:
    rc, calls, pid = _run(tmp_path, f"{kind}@drill.kernel:2")
    assert rc == -signum
    last = _assert_in_flight(calls, pid, tmp_path, "inputs_saved")
    assert not last.completed and last.exception is None


def test_exit_code(tmp_path: Path) -> None:
    rc, calls, pid = _run(tmp_path, "exit=3@drill.kernel:2")
    assert rc == 3
    assert not _assert_in_flight(calls, pid, tmp_path, "inputs_saved").completed


def test_python_exception(tmp_path: Path) -> None:
    rc, calls, pid = _run(tmp_path, "exception@drill.kernel:2")
    assert rc == 1
    last = _assert_in_flight(calls, pid, tmp_path, "exception")
    assert last.completed and last.exception == (
        "RuntimeError",
        "injected fault: exception in drill.kernel (call 2)",
    )
    assert r.read_dump_metadata(last.dumped_inputs_dir).exception["type"] == "RuntimeError"  # type: ignore[arg-type,index]


def test_nan_shows_in_output_stats(tmp_path: Path) -> None:
    rc, calls, pid = _run(tmp_path, "nan@drill.kernel:2")
    assert rc == 0
    last = _assert_in_flight(calls, pid, tmp_path, "completed")
    assert last.completed and last.nan_total("output") == 4 and last.nan_total("inputs") == 0
    assert calls[1].nan_total() == 0


def test_hang_dies_on_sigterm(tmp_path: Path) -> None:
    proc = _start(tmp_path, "hang@drill.kernel:2")
    log = tmp_path / f"kapi_{proc.pid}.log"
    calls: list[r.KernelApiCall] = []

    def third_call_entered() -> bool:
        nonlocal calls
        calls = r.parse_kernel_api_log(log.read_text()) if log.exists() else []
        return (len(calls) == 3 and bool(calls[-1].dumped_inputs_dir)) or proc.poll() is not None

    try:
        wait_until(third_call_entered, timeout=60, interval=0.1)
        assert proc.poll() is None, proc.communicate()
        # Only the hang resets SIGTERM to its default (the drill installs a handler that ignores it), so
        # death by SIGTERM below proves the call was hanging when the signal came; no sleep needed.
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.communicate()
    assert proc.returncode == -signal.SIGTERM
    _assert_in_flight(calls, proc.pid, tmp_path, "inputs_saved")


def test_fault_at_level0_still_fires(tmp_path: Path) -> None:
    rc, calls, pid = _run(tmp_path, "segfault@drill.kernel:2", level=0)
    assert rc == -signal.SIGSEGV and calls == []
    assert not (tmp_path / f"dumps_{pid}").exists()


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.mark.skipif(not _cuda(), reason="device-assert needs CUDA")
def test_device_assert_drill(tmp_path: Path) -> None:
    rc, calls, pid = _run(tmp_path, "device-assert@drill.kernel:2", device="cuda")
    assert rc == 1
    last = _assert_in_flight(calls, pid, tmp_path, "exception")
    assert last.exception is not None and "device-side assert triggered" in last.exception[1]
    assert isinstance(last.inputs[0][1], r.TensorDesc) and last.inputs[0][1].device == "cuda:0"
    cuda_error = r.parse_line(f"RuntimeError: {last.exception[1].splitlines()[0]}")
    assert isinstance(cuda_error, r.CudaError) and cuda_error.kind == "device_assert"

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
from backend import faults
faults.install(faults.parse_fault_spec(sys.argv[1]))
import torch
from backend.kernel_api import debug_kernel_api

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
           "SGLANG_KERNEL_API_DUMP_DIR": str(tmp_path / "dumps_%i")}  # fmt: skip
    router, status = supervise(tmp_path, [sys.executable, str(script), f"{fault}@backend.attention.*:2"], env)
    assert status.signal_name == signal_name
    dump_roots = [str(p) for p in tmp_path.glob("dumps_*")]
    report = analyze_router(router, status, dump_roots=dump_roots)
    call = report.in_flight
    assert call is not None and call.api_name == "backend.attention.sdpa" and call.source == "log+dump"
    assert call.args[0].nan_count == 32 and call.args[0].shape == (4, 8)
    assert call.dump_status == "inputs_saved" and call.dump_path is not None and call.dump_path.endswith("call0002")
    wait_until(lambda: Path(call.dump_path, "metadata.json").exists())  # type: ignore[arg-type]

"""``sgl-console logs parse`` and ``crash-report`` through the real entry point, on genuine upstream
logs (tests/data/upstream): NaN/Inf shown in text, strict JSON, the right request/stage/step/call,
refusals with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.upstream_data import logs, refuse_constant, scenario

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SGLANG_")}
    return {**base, "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"), "PYTHONPATH": str(ROOT)}


def console(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", *args], env=env, cwd=str(ROOT), capture_output=True,
                          text=True, timeout=120)


def test_logs_parse_text_shows_nan_and_inf(env: dict[str, str]) -> None:
    r = console(env, "logs", "parse", str(scenario("level5") / "kernel_api.log"))
    assert r.returncode == 0, r.stderr
    nan_lines = [ln for ln in r.stdout.splitlines() if "[nan:" in ln]
    assert nan_lines, r.stdout[-2000:]
    assert "api_name=jit_kernel.norm.rmsnorm" in nan_lines[0] and "nan: arg[0]=1, return=8" in nan_lines[0]
    clean = [ln for ln in r.stdout.splitlines() if "KernelApiCall" in ln and "[nan:" not in ln]
    assert clean and not any("inf:" in ln for ln in clean)


def test_logs_parse_json_is_strict_and_finds_every_family(env: dict[str, str]) -> None:
    d = scenario("handled_then_cuda_error")
    r = console(env, "logs", "parse", "--json", str(d / "stdout.log"), str(d / "stderr.log"),
                str(d / "perf" / "performance.log"))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(ln, parse_constant=refuse_constant) for ln in r.stdout.splitlines()]
    types = {row["type"] for row in rows}
    assert {"RequestStarted", "StageStarted", "StageFinished", "StageError", "GenerationFailed",
            "ExceptionRaised", "CudaError", "GenerationDone", "OutputSaved", "ProgressRecord",
            "PerfRecord"} <= types
    cuda = [row["record"]["message"] for row in rows if row["type"] == "CudaError"]
    assert cuda and not any("Expected size" in m for m in cuda)


def test_logs_parse_json_turns_nan_statistics_into_strings(env: dict[str, str]) -> None:
    r = console(env, "logs", "parse", "--json", str(scenario("level5") / "kernel_api.log"))
    assert r.returncode == 0, r.stderr
    rows = [json.loads(ln, parse_constant=refuse_constant) for ln in r.stdout.splitlines()]
    stats = [v["stats"] for row in rows for _n, v in row["record"]["inputs"] if isinstance(v, dict) and v.get("stats")]
    assert any(s["min"] == "nan" for s in stats)


@pytest.mark.parametrize("level", [1, 5, 10])
def test_crash_report_json_on_genuine_logs(env: dict[str, str], level: int) -> None:
    name = f"level{level}"
    extra = ["--dump-dir", str(scenario(name) / "dumps")] if level == 10 else []
    args = [a for p in logs(name) for a in ("--log", p)]
    r = console(env, "crash-report", "--json", "--exit-code", "137", *args, *extra)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout, parse_constant=refuse_constant)
    assert data["exit"]["signal_name"] == "SIGKILL"
    assert (data["request"]["label"], data["request"]["stage"], data["request"]["step"]) == (
        "prompt 4/4", "DenoisingStage", 1)
    assert "Expected size" not in data["headline"] and data["cuda_errors"] == []
    if level == 1:
        assert data["call_status"] == "last_logged" and data["in_flight"] is None
        assert "level 1 cannot tell whether it finished" in data["headline"]
    else:
        assert data["call_status"] == "in_flight" and data["in_flight"]["api_name"].endswith(".sdpa")
    if level >= 5:
        assert data["first_non_finite"]["api_name"] == "jit_kernel.norm.rmsnorm"


def test_crash_report_text_and_refusals(env: dict[str, str]) -> None:
    args = [a for p in logs("kill_outside_kernel_l3") for a in ("--log", p)]
    r = console(env, "crash-report", "--exit-code", "137", *args)
    assert r.returncode == 0 and r.stdout.startswith("CRASH REPORT")
    assert "Request: prompt 2/2" in r.stdout and "step: denoising_step_2" in r.stdout
    assert "the process died outside any kernel call" in r.stdout
    missing = console(env, "crash-report", "--log", "/nonexistent/kernel.log")
    assert missing.returncode == 2 and "not found: /nonexistent/kernel.log" in missing.stderr
    assert console(env, "crash-report").returncode == 2
    assert console(env, "logs", "parse", "/nonexistent.log").returncode == 2

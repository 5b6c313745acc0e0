"""``sgl-backend generate`` as a real subprocess on the CPU: images, metadata, records, errors."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image

from backend.exit_codes import ExitCode
from backend.platforms import detect_host_platforms
from backend.records import (
    GenerationFailed,
    OutputSaved,
    PerfDumpReport,
    PerfRecord,
    ProfilerTracesSaved,
    ProgressRecord,
    StageError,
    StageFinished,
    StageStarted,
    parse_line,
    split_log_prefix,
    strip_ansi,
)
from tests.console_helpers import wait_until
from tests.fixtures_backend import DEVICE, clean_env, run_backend

pytestmark = pytest.mark.slow
STAGES = ["InputValidationStage", "TextEncodingStage", "TimestepPreparationStage", "LatentPreparationStage",
          "DenoisingStage", "DecodingStage"]
"""Upstream's stage list: saving happens outside it (no ``SavingStage``)."""
STEPS = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """One generate run with every timing feature on (shared by the tests of this module: CPU is scarce)."""
    tmp = tmp_path_factory.mktemp("generate")
    env = clean_env(tmp, SGLANG_DIFFUSION_STAGE_LOGGING="true", SGLANG_DIFFUSION_TORCH_PROFILER_DIR=str(tmp / "prof"),
                    SGLANG_DIFFUSION_ATTENTION_BACKEND="sage_attn", SGLANG_USE_ROCM_VAE="1",
                    SGLANG_S3_SECRET_ACCESS_KEY="hunter2-very-secret")
    proc = run_backend(tmp, "generate", "--prompt", "a red circle", "--num-inference-steps", str(STEPS),
                       "--batch-size", "2", "--seed", "7", "--perf-dump-path", str(tmp / "dump" / "perf.json"),
                       env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp, proc


def test_png_and_metadata(run: tuple[Path, object]) -> None:
    tmp, proc = run
    saved = [r for r in map(parse_line, proc.stdout.splitlines()) if isinstance(r, OutputSaved)]
    assert len(saved) == 2
    for index, record in enumerate(saved):
        path = Path(record.path)
        assert path.parent == tmp / "outputs" and path.name.startswith("a_red_circle_") and path.name.endswith(f"_{index}.png")
        image = Image.open(path)
        assert image.size == (64, 64)
        text = image.text  # type: ignore[attr-defined]
        assert text["prompt"] == "a red circle" and text["seed"] == str(7 + index) and text["steps"] == str(STEPS)
        assert json.loads(text["attention"])["effective"] == "torch_sdpa"
        settings = json.loads(text["settings"])
        assert settings["SGLANG_DIFFUSION_STAGE_LOGGING"] == "true"
        assert "hunter2" not in path.read_bytes().decode("latin-1")
        assert settings["SGLANG_S3_SECRET_ACCESS_KEY"] != "hunter2-very-secret"


def test_stage_lines_and_progress(run: tuple[Path, object]) -> None:
    _, proc = run
    records = [parse_line(line) for line in proc.stdout.splitlines()]
    assert all(split_log_prefix(strip_ansi(line))[0] for line in proc.stdout.splitlines())  # [MM-DD HH:MM:SS]
    assert [r.stage for r in records if isinstance(r, StageStarted)] == STAGES
    assert [r.stage for r in records if isinstance(r, StageFinished)] == STAGES
    # Real tqdm on a pipe: ``\r``-separated fragments from 0/N (how many in between depends on its
    # mininterval), closed by one ``\n`` (the torch profiler adds its own lines to stderr here).
    (bar,) = [line for line in proc.stderr.split("\n") if line.startswith("\r")]
    fragments = [parse_line(f) for f in bar.split("\r")[1:]]
    progress = [(p.step, p.total) for p in fragments if isinstance(p, ProgressRecord)]
    assert len(progress) == len(fragments) and progress[0] == (0, STEPS) and progress[-1] == (STEPS, STEPS)
    assert [step for step, _ in progress] == sorted(step for step, _ in progress)


def test_stage_lines_without_stage_logging_but_no_performance_log(tmp_path: Path) -> None:
    """Stage lines are printed on every request, as SGLang does (the console's Timings view reads
    them); stage logging only adds the performance.log record."""
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    records = [parse_line(line) for line in proc.stdout.splitlines()]
    assert [r.stage for r in records if isinstance(r, StageFinished)] == STAGES
    assert not (tmp_path / "logs" / "performance.log").exists()


def test_a_step_count_cache_dit_cannot_serve_is_refused_before_any_step(tmp_path: Path) -> None:
    env = clean_env(tmp_path, SGLANG_CACHE_DIT_ENABLED="true", SGLANG_CACHE_DIT_SCM_PRESET="fast")
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "5", env=env)
    assert proc.returncode == ExitCode.BAD_REQUEST
    assert "SGLANG_CACHE_DIT_SCM_PRESET=fast has no mask for 5 steps" in proc.stdout + proc.stderr
    records = [parse_line(line) for line in proc.stdout.splitlines()]
    assert not any(isinstance(r, StageStarted) and r.stage == "DenoisingStage" for r in records)


def test_performance_log_and_dump(run: tuple[Path, object]) -> None:
    tmp, _ = run
    lines = (tmp / "logs" / "performance.log").read_text().splitlines()
    assert len(lines) == 1
    record = PerfRecord.from_json_line(lines[0])
    assert [s.name for s in record.stages] == STAGES
    assert len(record.steps) == STEPS and all(ms > 0 for ms in record.steps)
    assert record.total_duration_ms >= sum(s.execution_time_ms for s in record.stages) * 0.99
    assert list(json.loads(lines[0]))[:7] == ["request_id", "timestamp", "commit_hash", "tag", "stages", "steps",
                                              "total_duration_ms"]
    data = json.loads(lines[0])
    assert "memory_snapshots" in data and (DEVICE != "cpu" or data["memory_snapshots"] == {})
    assert [(s["name"], s["is_denoising"]) for s in data["stages"]] == [(n, n == "DenoisingStage") for n in STAGES]
    dump_text = (tmp / "dump" / "perf.json").read_text()
    dump = PerfDumpReport.from_json(dump_text)
    assert dump.tag == "cli_generate" and dump.request_id == record.request_id
    assert [s.name for s in dump.steps] == STAGES and len(dump.denoise_steps_ms) == STEPS
    assert list(json.loads(dump_text)) == ["timestamp", "request_id", "commit_hash", "tag", "total_duration_ms",
                                           "steps", "denoise_steps_ms", "memory_checkpoints", "meta"]
    assert (tmp / "dump" / "perf.json").stat().st_mode & 0o777 == 0o600


def test_profiler_trace(run: tuple[Path, object]) -> None:
    tmp, proc = run
    traces = [r for r in map(parse_line, proc.stdout.splitlines()) if isinstance(r, ProfilerTracesSaved)]
    assert len(traces) == 1
    path = Path(traces[0].path)
    assert path.is_absolute() and path.parent == tmp / "prof" and path.name.endswith("-rank-0.trace.json.gz")
    assert path.stat().st_size > 0


def test_fallback_and_platform_lines(run: tuple[Path, object]) -> None:
    _, proc = run
    warnings = [line for line in proc.stdout.splitlines() if "sage_attn" in line and "falling back" in line]
    assert len(warnings) == 1 and "torch_sdpa" in warnings[0]
    if "rocm" not in detect_host_platforms():
        assert any("SGLANG_USE_ROCM_VAE has no effect here" in line for line in proc.stdout.splitlines())
    assert "hunter2" not in proc.stdout + proc.stderr


def _absent_device() -> str:
    return "cuda" if "cuda" not in detect_host_platforms() else "npu"


@pytest.mark.parametrize(
    ("env_extra", "args", "code", "needle"),
    [
        ({"SGLANG_KERNEL_API_LOGLEVEL": "abc"}, [], ExitCode.BAD_ENV, "SGLANG_KERNEL_API_LOGLEVEL"),
        ({"SGLANG_DIFFUSION_TARGET_DEVICE": _absent_device()}, [], ExitCode.DEVICE_UNAVAILABLE, "no usable"),
        ({}, ["--model-path", "does-not-exist"], ExitCode.MODEL_ERROR, "does-not-exist"),
        ({}, ["--attention-backend-config", "sdpa_kernels=warp"], ExitCode.BAD_ATTENTION_CONFIG, "sdpa_kernels"),
    ],
    ids=["bad-env", "bad-device", "missing-model", "bad-attention-config"],
)
def test_clean_startup_errors(tmp_path: Path, env_extra: dict[str, str], args: list[str], code: ExitCode,
                              needle: str) -> None:
    env = clean_env(tmp_path, **env_extra)
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "2", *args, env=env)
    assert proc.returncode == code, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if needle in line]
    assert errors, proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_bad_prompt_is_one_line_and_logging_level_is_honoured(tmp_path: Path) -> None:
    env = clean_env(tmp_path, SGLANG_DIFFUSION_LOGGING_LEVEL="warning")
    proc = run_backend(tmp_path, "generate", "--prompt", "a purple elephant", "--num-inference-steps", "2", env=env)
    assert proc.returncode == ExitCode.BAD_REQUEST, proc.stdout + proc.stderr
    said = [parse_line(line) for line in proc.stdout.splitlines() if "elephant" in line]
    assert [type(r).__name__ for r in said] == ["StageError", "GenerationFailed"]  # upstream's two lines
    assert "Target device" not in proc.stdout  # an INFO line, silenced by the variable
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "outputs").exists() or not os.listdir(tmp_path / "outputs")


@pytest.mark.parametrize("stage_logging", ["false", "true"])
def test_injected_exception_is_logged_as_upstream_does(tmp_path: Path, stage_logging: str) -> None:
    """SGLang 0.5.23's StageProfiler: ``[Stage] Error during execution after X ms: <str(exc)>`` (no class
    name) and the traceback, the whole of it red; with timing on, the failing step's line comes first."""
    env = clean_env(tmp_path, SGLANG_DIFFUSION_STAGE_LOGGING=stage_logging)
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "2",
                       "--inject-fault", "exception@backend.attention.*", env=env)
    assert proc.returncode == ExitCode.RUNTIME_ERROR, proc.stdout + proc.stderr
    errors = [(i, r) for i, r in enumerate(map(parse_line, proc.stdout.splitlines())) if isinstance(r, StageError)]
    expected = ["denoising_step_0", "DenoisingStage"] if stage_logging == "true" else ["DenoisingStage"]
    assert [r.stage for _, r in errors] == expected
    lines = proc.stdout.splitlines()
    for index, record in errors:
        assert record.error == "injected fault: exception in backend.attention.sdpa_attention (call 1)"
        assert lines[index].startswith("\x1b[91m[") and lines[index + 1] == "Traceback (most recent call last):"
        end = next(j for j in range(index, len(lines)) if lines[j].endswith("\x1b[0;0m"))
        assert lines[end] == "RuntimeError: " + record.error + "\x1b[0;0m"
    failed = [i for i, r in enumerate(map(parse_line, lines)) if isinstance(r, GenerationFailed)]
    assert len(failed) == 1 and failed[0] > errors[-1][0]  # then upstream's request-level line, traceback too
    assert lines[failed[0] + 1] == "Traceback (most recent call last):"


def test_sigterm_abandons_at_a_step_boundary(tmp_path: Path) -> None:
    import signal
    import subprocess

    from tests.fixtures_backend import start_backend

    with open(tmp_path / "stderr.txt", "w") as err:
        proc = start_backend(["generate", "--prompt", "a red circle", "--num-inference-steps", "500"], tmp_path,
                             clean_env(tmp_path), stdout=subprocess.PIPE, stderr=err, text=True)
        wait_until(lambda: re.search(r"\| [1-9]\d*/500 \[", (tmp_path / "stderr.txt").read_text()), timeout=240,
                   interval=0.1, describe=lambda: "no denoising step was reported")
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.CANCELLED, out
    assert any("cancelled: abandoned before step" in line for line in out.splitlines())
    assert "500/500" not in (tmp_path / "stderr.txt").read_text()

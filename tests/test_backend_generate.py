"""``sgl-backend generate`` as a real subprocess on the CPU: images, metadata, records, errors."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from backend.exit_codes import ExitCode
from backend.platforms import detect_host_platforms
from backend.records import (
    OutputSaved,
    PerfDumpReport,
    PerfRecord,
    ProfilerTracesSaved,
    ProgressRecord,
    StageFinished,
    StageStarted,
    parse_line,
    split_log_prefix,
)
from tests.fixtures_backend import clean_env, run_backend

pytestmark = pytest.mark.slow
STAGES = ["InputValidationStage", "TextEncodingStage", "TimestepPreparationStage", "LatentPreparationStage",
          "DenoisingStage", "DecodingStage", "SavingStage"]  # fmt: skip
STEPS = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    """One generate run with every timing feature on (shared by the tests of this module: CPU is scarce)."""
    tmp = tmp_path_factory.mktemp("generate")
    env = clean_env(tmp, SGLANG_DIFFUSION_STAGE_LOGGING="true", SGLANG_DIFFUSION_TORCH_PROFILER_DIR=str(tmp / "prof"),
                    SGLANG_DIFFUSION_ATTENTION_BACKEND="sage_attn", SGLANG_USE_ROCM_VAE="1",
                    SGLANG_S3_SECRET_ACCESS_KEY="hunter2-very-secret")  # fmt: skip
    proc = run_backend(tmp, "generate", "--prompt", "a red circle", "--num-inference-steps", str(STEPS),
                       "--batch-size", "2", "--seed", "7", "--perf-dump-path", str(tmp / "dump" / "perf.json"),
                       env=env)  # fmt: skip
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
    assert all(split_log_prefix(line)[0] for line in proc.stdout.splitlines())  # every line [MM-DD HH:MM:SS]
    assert [r.stage for r in records if isinstance(r, StageStarted)] == STAGES
    assert [r.stage for r in records if isinstance(r, StageFinished)] == STAGES
    progress = [r for r in map(parse_line, proc.stderr.splitlines()) if isinstance(r, ProgressRecord)]
    assert [(p.step, p.total) for p in progress] == [(i, STEPS) for i in range(1, STEPS + 1)]


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
                                              "total_duration_ms"]  # fmt: skip
    dump = PerfDumpReport.from_json((tmp / "dump" / "perf.json").read_text())
    assert dump.tag == "cli_generate" and dump.request_id == record.request_id
    assert [s.name for s in dump.steps] == STAGES and len(dump.denoise_steps_ms) == STEPS


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
        ({"SGLANG_DIFFUSION_STAGE_LOGGING": "maybe"}, [], ExitCode.BAD_ENV, "SGLANG_DIFFUSION_STAGE_LOGGING"),
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
    assert sum("elephant" in line for line in proc.stdout.splitlines()) == 1
    assert "Target device" not in proc.stdout  # an INFO line, silenced by the variable
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "outputs").exists() or not os.listdir(tmp_path / "outputs")


def test_injected_exception_is_one_stage_error_line(tmp_path: Path) -> None:
    proc = run_backend(tmp_path, "generate", "--prompt", "a red circle", "--num-inference-steps", "2",
                       "--inject-fault", "exception@backend.attention.*")  # fmt: skip
    assert proc.returncode == ExitCode.RUNTIME_ERROR, proc.stdout + proc.stderr
    errors = [line for line in proc.stdout.splitlines() if "injected fault" in line]
    assert len(errors) == 1 and "[DenoisingStage] Error during execution after" in errors[0]
    assert "Traceback" not in proc.stdout


def test_sigterm_abandons_at_a_step_boundary(tmp_path: Path) -> None:
    import signal
    import subprocess
    import time

    from tests.fixtures_backend import backend_command

    with open(tmp_path / "stderr.txt", "w") as err:
        proc = subprocess.Popen(backend_command("generate", "--prompt", "a red circle", "--num-inference-steps", "500"),
                                cwd=tmp_path, env=clean_env(tmp_path), stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.monotonic() + 240
        while "1/500" not in (tmp_path / "stderr.txt").read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.CANCELLED, out
    assert any("cancelled: abandoned before step" in line for line in out.splitlines())
    assert "500/500" not in (tmp_path / "stderr.txt").read_text()

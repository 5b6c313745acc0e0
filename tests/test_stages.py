"""backend/pipeline/stages.py in process: the stage runner's lines, metrics, stops and error paths.

The bundled untrained ShapesPipeline on the CPU, 2-3 steps at its native 64x64. Every line a stage
logs goes through the backend's own formatter and must come back as a record from
``backend.records.parse_line`` (the console reads nothing else). A failure is injected with a real
forward hook on the real transformer, or a stage class of the test's own passed to ``run_stages``.
The subprocess view of the same lines (stdout, progress bar, performance.log) is
``tests/test_backend_generate.py``'s.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import torch

from backend import envs
from backend.caching.scm import CacheConfigError
from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import SGLangFormatter
from backend.models.shapes_pipeline import ShapesPipeline, build_untrained_pipeline
from backend.pipeline import stages
from backend.pipeline.context import StageContext
from backend.pipeline.limits import Limits
from backend.pipeline.request import GenerationRequest
from backend.records import ProgressRecord, StageError, StageFinished, StageStarted, parse_line

STAGE_NAMES = [cls.__name__ for cls in stages.DEFAULT_STAGES]
FORMAT = SGLangFormatter(colour=False)


pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def pipe() -> ShapesPipeline:
    return build_untrained_pipeline(seed=0)


def context(pipe: ShapesPipeline, env: dict[str, str] | None = None, timing: bool = False,
            **request: Any) -> StageContext:
    req = GenerationRequest(**{"prompt": "a red circle", "num_inference_steps": 2, **request})
    return StageContext(pipe, req, envs.load_settings(env or {}), torch.device("cpu"), timing=timing)


def records(log: pytest.LogCaptureFixture) -> list[Any]:
    """Each stage record as the console would read it: formatted by the backend, first line parsed."""
    out = []
    for rec in log.records:
        if rec.name.endswith(".stages"):
            parsed = parse_line(FORMAT.format(rec).split("\n")[0])
            assert parsed is not None, rec.getMessage()
            out.append(parsed)
    return out


def error_records(log: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [rec for rec in log.records if rec.levelno >= logging.ERROR]


class FailingHook:
    """A forward pre-hook on the real transformer: raises (or cancels) on its ``at``-th call."""

    def __init__(self, pipe: ShapesPipeline, at: int = 1, exc: BaseException | None = None,
                 cancel: StageContext | None = None) -> None:
        self.calls, self.at, self.exc, self.cancel = 0, at, exc, cancel
        self.handle = pipe.transformer.register_forward_pre_hook(self)

    def __call__(self, *_: Any) -> None:
        self.calls += 1
        if self.calls == self.at:
            if self.cancel is not None:
                self.cancel.cancel.cancel()
            elif self.exc is not None:
                raise self.exc


@pytest.fixture()
def hooks(pipe: ShapesPipeline) -> Iterator[list[FailingHook]]:
    made: list[FailingHook] = []
    yield made
    for hook in made:
        hook.handle.remove()


def test_every_stage_logs_started_and_finished_in_upstreams_shapes(
        pipe: ShapesPipeline, backend_log: pytest.LogCaptureFixture) -> None:
    ctx = context(pipe, batch_size=2, num_inference_steps=3)
    stages.run_stages(ctx)
    recs = records(backend_log)
    assert [type(r) for r in recs] == [StageStarted, StageFinished] * len(STAGE_NAMES)
    assert [r.stage for r in recs[::2]] == [r.stage for r in recs[1::2]] == STAGE_NAMES
    assert all(rec.levelno == logging.INFO for rec in backend_log.records if rec.name.endswith(".stages"))
    timings = ctx.metrics.stages
    assert [(t.name, t.is_denoising) for t in timings] == [(n, n == "DenoisingStage") for n in STAGE_NAMES]
    # the printed seconds are the recorded milliseconds, to the line's 4 decimals
    assert [r.seconds for r in recs[1::2]] == [round(t.execution_time_ms / 1000.0, 4) for t in timings]
    assert len(ctx.metrics.steps) == 3 and all(ms >= 0 for ms in ctx.metrics.steps)
    assert len(ctx.images) == 2 and ctx.images[0].size == (64, 64)
    assert ctx.metrics.cache_stats == {"enabled": False, "steps": 3, "computed_steps": 3, "cached_steps": 0,
                                       "hit_ratio": 0.0}
    assert ctx.metrics.memory_snapshots == {}  # CPU: upstream snapshots only a CUDA device


def test_progress_bar_on_rank_0_only(pipe: ShapesPipeline, capsys: pytest.CaptureFixture[str]) -> None:
    stages.run_stages(context(pipe, num_inference_steps=2))
    fragments = [parse_line(f) for f in capsys.readouterr().err.split("\r") if f.strip()]
    progress = [(p.step, p.total) for p in fragments if isinstance(p, ProgressRecord)]
    assert progress[0] == (0, 2) and progress[-1] == (2, 2)
    other = context(pipe, num_inference_steps=2)
    other.rank = 1
    stages.run_stages(other)
    assert capsys.readouterr().err == "" and len(other.metrics.steps) == 2


def test_a_stage_that_raises_is_logged_with_its_traceback_and_reraised(
        pipe: ShapesPipeline, backend_log: pytest.LogCaptureFixture) -> None:
    failure = RuntimeError("the widget melted")

    class MeltingStage(stages.PipelineStage):
        def forward(self, ctx: StageContext) -> None:
            raise failure

    ctx = context(pipe)
    with pytest.raises(RuntimeError) as info:
        stages.run_stages(ctx, (stages.InputValidationStage, MeltingStage, stages.DecodingStage))
    assert info.value is failure
    recs = records(backend_log)
    assert [(type(r), r.stage) for r in recs] == [
        (StageStarted, "InputValidationStage"), (StageFinished, "InputValidationStage"),
        (StageStarted, "MeltingStage"), (StageError, "MeltingStage")]  # nothing after the failure ran
    assert recs[-1].error == "the widget melted" and recs[-1].ms >= 0
    (error,) = error_records(backend_log)
    text = error.getMessage()
    assert "Traceback (most recent call last):" in text and text.endswith("RuntimeError: the widget melted")
    assert [t.name for t in ctx.metrics.stages] == ["InputValidationStage"]


def test_a_refusal_of_ours_is_one_line_without_traceback(
        pipe: ShapesPipeline, backend_log: pytest.LogCaptureFixture) -> None:
    with pytest.raises(BackendError) as info:
        stages.run_stages(context(pipe, prompt="   "))
    assert info.value.code == ExitCode.BAD_REQUEST and "the prompt is empty" in str(info.value)
    (error,) = error_records(backend_log)
    assert "\n" not in error.getMessage()
    (last,) = [r for r in records(backend_log) if isinstance(r, StageError)]
    assert last.stage == "InputValidationStage" and last.error == "Bad request: the prompt is empty"


@pytest.mark.parametrize(("request_fields", "limits", "says"), [
    ({"num_inference_steps": -1}, Limits(), "steps and batch size must be >= 1"),
    ({"num_inference_steps": 0}, Limits(), "steps and batch size must be >= 1"),
    ({"height": 0}, Limits(), "height"),
    ({"batch_size": 0}, Limits(), "steps and batch size must be >= 1"),
    ({"num_inference_steps": 5}, Limits(max_steps=4), "--num-inference-steps 5 is over the limit of 4 steps"),
    ({"height": 60}, Limits(), "height"),
])
def test_bad_requests_are_refused_before_any_tensor(
        pipe: ShapesPipeline, backend_log: pytest.LogCaptureFixture, hooks: list[FailingHook],
        request_fields: dict[str, Any], limits: Limits, says: str) -> None:
    hooks.append(FailingHook(pipe, at=1, exc=AssertionError("the transformer ran")))
    ctx = context(pipe, **request_fields)
    ctx.limits = limits
    with pytest.raises(BackendError) as info:
        stages.run_stages(ctx)
    assert info.value.code == ExitCode.BAD_REQUEST and says in str(info.value), str(info.value)
    assert [r.stage for r in records(backend_log)] == ["InputValidationStage"] * 2
    assert hooks[0].calls == 0 and ctx.latents is None and ctx.metrics.stages == []


def test_a_step_count_cache_dit_cannot_serve_is_refused_in_input_validation(
        pipe: ShapesPipeline, backend_log: pytest.LogCaptureFixture) -> None:
    env = {"SGLANG_CACHE_DIT_ENABLED": "true", "SGLANG_CACHE_DIT_SCM_PRESET": "fast"}
    with pytest.raises(CacheConfigError, match="SGLANG_CACHE_DIT_SCM_PRESET=fast has no mask for 5 steps"):
        stages.run_stages(context(pipe, env, num_inference_steps=5))
    assert [type(r) for r in records(backend_log)] == [StageStarted, StageError]


@pytest.mark.parametrize("timing", [True, False])
def test_a_failing_step_is_reported_like_upstreams_step_profiler(
        pipe: ShapesPipeline, backend_log: pytest.LogCaptureFixture, hooks: list[FailingHook],
        timing: bool) -> None:
    """With timing on, ``[denoising_step_N]`` first, then the stage; with it off, the stage only."""
    hooks.append(FailingHook(pipe, at=2, exc=RuntimeError("CUDA error: an illegal memory access")))
    ctx = context(pipe, timing=timing, num_inference_steps=3, guidance_scale=1.0)  # one transformer call a step
    with pytest.raises(RuntimeError, match="illegal memory access"):
        stages.run_stages(ctx)
    errors = [r for r in records(backend_log) if isinstance(r, StageError)]
    expected = ["denoising_step_1", "DenoisingStage"] if timing else ["DenoisingStage"]
    assert [e.stage for e in errors] == expected
    assert all(e.error == "CUDA error: an illegal memory access" for e in errors)
    assert len(error_records(backend_log)) == len(expected)
    assert len(ctx.metrics.steps) == 1  # step 0 finished; the failing step is not recorded
    assert ctx.metrics.cache_stats is None  # no stats for a loop that did not complete
    assert "DecodingStage" not in [r.stage for r in records(backend_log)]


def test_a_stop_during_the_loop_abandons_at_the_next_step_without_an_error_line(
        pipe: ShapesPipeline, backend_log: pytest.LogCaptureFixture, hooks: list[FailingHook]) -> None:
    ctx = context(pipe, num_inference_steps=3, guidance_scale=1.0)
    hooks.append(FailingHook(pipe, at=1, cancel=ctx))
    with pytest.raises(stages.Cancelled, match=r"abandoned before step 2/3: the backend is stopping"):
        stages.run_stages(ctx)
    assert error_records(backend_log) == []
    assert len(ctx.metrics.steps) == 1 and ctx.metrics.cache_stats is None
    assert [r.stage for r in records(backend_log)][-1] == "DenoisingStage"


def test_a_stop_before_a_stage_runs_nothing(pipe: ShapesPipeline, backend_log: pytest.LogCaptureFixture) -> None:
    ctx = context(pipe)
    ctx.cancel.cancel()
    with pytest.raises(stages.Cancelled, match="abandoned before InputValidationStage"):
        stages.run_stages(ctx)
    assert records(backend_log) == [] and ctx.metrics.stages == []


def test_timing_on_cpu_records_steps_but_no_memory_snapshot(pipe: ShapesPipeline) -> None:
    ctx = context(pipe, timing=True)
    stages.run_stages(ctx)
    assert len(ctx.metrics.steps) == 2 and [t.name for t in ctx.metrics.stages] == STAGE_NAMES
    assert ctx.metrics.memory_snapshots == {}


def test_the_cache_controller_is_one_per_pipeline(pipe: ShapesPipeline) -> None:
    assert stages.cache_controller(pipe) is stages.cache_controller(pipe)
    assert stages.cache_controller(object()) is not stages.cache_controller(pipe)

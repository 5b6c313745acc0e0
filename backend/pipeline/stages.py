"""The generation stages, named like SGLang's, and the runner that times and logs them.

What is printed follows SGLang 0.5.23's ``StageProfiler`` line for line (reference notes, section 9):
``[Stage] started...`` / ``[Stage] finished in X seconds`` on every request; on an exception
``[Stage] Error during execution after X ms: <str(exc)>`` at ERROR with its traceback (the whole
thing red), and, when timing is on, a ``[denoising_step_N] Error during execution ...`` line for the
failing step first.  The progress bar is real ``tqdm`` on stderr (``\r`` fragments from ``0/N``),
shown by rank 0 only.  Saving is not a stage, as upstream: :mod:`backend.server.runtime` saves after
:func:`run_stages`.  The denoising stage is marked ``is_denoising`` in the metrics.

A stop (:class:`CancelToken`) is honoured at every stage boundary and every step boundary, and the
request's size is checked against :mod:`backend.pipeline.limits` (bounds and a memory estimate) before any
tensor of the request is allocated.

Cache-DiT (:mod:`backend.caching.controller`): one controller per pipeline, prepared before the denoising loop;
its stats after the loop become ``cache_stats`` in ``performance.log``.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any

import torch

from backend.caching.controller import CacheController, validate_for_steps
from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import get_logger
from backend.models.shapes_pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS
from backend.pipeline import limits
from backend.pipeline.context import StageContext
from backend.pipeline.device import synchronize
from backend.records import (
    StageTiming,
    memory_snapshot,
    stage_error_message,
    stage_finished_message,
    stage_started_message,
)

log = get_logger("stages")


class Cancelled(Exception):
    """The request was abandoned at a step boundary (SIGTERM)."""


class PipelineStage:
    """One step of generation; its name in logs and records is the class name."""

    is_denoising = False
    """Marked ``is_denoising`` in ``performance.log`` (upstream: the stages of the denoiser role)."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def forward(self, ctx: StageContext) -> None:
        raise NotImplementedError


class InputValidationStage(PipelineStage):
    def forward(self, ctx: StageContext) -> None:
        req, pipe = ctx.request, ctx.pipe
        # None means "not given"; 0 is a value (refused below), never a silent default
        ctx.num_steps = DEFAULT_STEPS if req.num_inference_steps is None else req.num_inference_steps
        ctx.height = pipe.native_size if req.height is None else req.height
        ctx.width = pipe.native_size if req.width is None else req.width
        ctx.guidance_scale = req.guidance_scale if req.guidance_scale is not None else DEFAULT_GUIDANCE
        if not req.prompt or not req.prompt.strip():
            raise BackendError(ExitCode.BAD_REQUEST, "Bad request: the prompt is empty")
        if ctx.num_steps < 1 or req.batch_size < 1:
            raise BackendError(ExitCode.BAD_REQUEST, "Bad request: steps and batch size must be >= 1")
        ctx.limits.check(ctx.num_steps, req.batch_size, ctx.height, ctx.width)
        try:
            pipe.validate_prompt(req.prompt)
            if req.negative_prompt:
                pipe.validate_prompt(req.negative_prompt)
            pipe.check_size(ctx.height, ctx.width)
        except ValueError as exc:
            raise BackendError(ExitCode.BAD_REQUEST, f"Bad request: {exc}") from None
        validate_for_steps(ctx.settings, ctx.num_steps, pipe)  # refuse before any step runs
        estimate = limits.estimate_request_bytes(pipe, ctx.num_steps, req.batch_size, ctx.height, ctx.width,
                                                 guided=ctx.guidance_scale > 1.0)
        limits.check_memory(ctx.limits, estimate, ctx.device)
        ctx.prompts = [req.prompt] * req.batch_size
        ctx.negatives = [req.negative_prompt] * req.batch_size if req.negative_prompt else None


class TextEncodingStage(PipelineStage):
    def forward(self, ctx: StageContext) -> None:
        ctx.cond = ctx.pipe.encode_prompt(ctx.prompts, ctx.negatives)


class TimestepPreparationStage(PipelineStage):
    def forward(self, ctx: StageContext) -> None:
        ctx.timesteps = ctx.pipe.prepare_timesteps(ctx.num_steps)


class LatentPreparationStage(PipelineStage):
    def forward(self, ctx: StageContext) -> None:
        generators = [torch.Generator("cpu").manual_seed(ctx.request.image_seed(i)) for i in range(len(ctx.prompts))]
        ctx.latents = ctx.pipe.prepare_latents(len(ctx.prompts), ctx.height, ctx.width, generators)


_CONTROLLERS: dict[int, CacheController] = {}


def cache_controller(pipe: Any) -> CacheController:
    """The pipeline's cache-dit controller, kept for the process: cache-dit stays mounted between requests."""
    controller = _CONTROLLERS.get(id(pipe))
    if controller is None:
        controller = _CONTROLLERS[id(pipe)] = CacheController()
    return controller


class DenoisingStage(PipelineStage):
    is_denoising = True

    def forward(self, ctx: StageContext) -> None:
        from tqdm import tqdm

        controller = cache_controller(ctx.pipe)
        total = len(ctx.timesteps)
        controller.prepare(ctx.pipe, ctx.settings, total, ctx.timesteps)
        completed = False
        try:
            with tqdm(total=total, file=sys.stderr, disable=ctx.rank != 0) as bar:
                for index, t in enumerate(ctx.timesteps):
                    if ctx.cancel.cancelled:
                        raise Cancelled(f"abandoned before step {index + 1}/{total}: the backend is stopping")
                    self._step(ctx, index, t)
                    bar.update()
            completed = True
        finally:
            if completed:
                ctx.metrics.cache_stats = controller.stats()

    @staticmethod
    def _step(ctx: StageContext, index: int, t: Any) -> None:
        """One step, timed like upstream's ``StageProfiler("denoising_step_<i>", record_as_step=True)``."""
        step_start = time.perf_counter()
        try:
            ctx.latents = ctx.pipe.denoise_step(ctx.latents, t, index, ctx.cond, ctx.guidance_scale)
            if ctx.timing:
                synchronize(ctx.device)
        except Exception as exc:
            if ctx.timing:  # upstream's step profiler reports only when timing is on
                log_stage_error(f"denoising_step_{index}", (time.perf_counter() - step_start) * 1000.0, exc)
            raise
        ctx.metrics.steps.append((time.perf_counter() - step_start) * 1000.0)


class DecodingStage(PipelineStage):
    def forward(self, ctx: StageContext) -> None:
        ctx.images = ctx.pipe.decode(ctx.latents)


DEFAULT_STAGES: tuple[type[PipelineStage], ...] = (
    InputValidationStage, TextEncodingStage, TimestepPreparationStage, LatentPreparationStage,
    DenoisingStage, DecodingStage,
)


def log_stage_error(name: str, ms: float, exc: BaseException) -> None:
    """``[name] Error during execution after X ms: <str(exc)>`` plus its traceback, as upstream logs it.

    A refusal of ours (:class:`BackendError`) is expected, so it gets the line without a traceback.
    """
    message = stage_error_message(name, ms, str(exc))
    if isinstance(exc, BackendError):
        log.error(message)
    else:
        log.error("%s\n%s", message, "".join(traceback.format_exception(exc)).rstrip("\n"))


def _host_anon_mb() -> float:
    """This process's anonymous resident memory (``RssAnon``), as upstream's snapshot reports it."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return 0.0


def _memory_snapshot(device: torch.device) -> dict[str, float] | None:
    """Upstream's ``MemorySnapshot.to_dict()`` after a stage; only on CUDA (upstream: device available)."""
    if device.type != "cuda":
        return None
    mb = 1024 * 1024
    return memory_snapshot(torch.cuda.memory_allocated(device) / mb, torch.cuda.memory_reserved(device) / mb,
                           torch.cuda.max_memory_allocated(device) / mb, torch.cuda.max_memory_reserved(device) / mb,
                           _host_anon_mb())


def run_stages(ctx: StageContext, stages: tuple[type[PipelineStage], ...] = DEFAULT_STAGES) -> None:
    """Run every stage in order, timing and logging each (SGLang's StageProfiler).

    The ``[Stage] started...`` / ``finished in`` lines are INFO on every request, as in SGLang
    (section 6.2 of the runtime notes): the console's Timings view reads them.  Stage logging
    (``SGLANG_DIFFUSION_STAGE_LOGGING``) or a perf dump adds device syncs, memory snapshots and the
    records written from the metrics (``performance.log``, the dump)."""
    with torch.inference_mode():
        for stage_cls in stages:
            if ctx.cancel.cancelled:
                raise Cancelled(f"abandoned before {stage_cls.__name__}: the backend is stopping")
            stage = stage_cls()
            log.info(stage_started_message(stage.name))
            start = time.perf_counter()
            try:
                stage.forward(ctx)
                if ctx.timing:
                    synchronize(ctx.device)
            except Cancelled:
                raise
            except Exception as exc:
                log_stage_error(stage.name, (time.perf_counter() - start) * 1000.0, exc)
                raise
            seconds = time.perf_counter() - start
            log.info(stage_finished_message(stage.name, seconds))
            ctx.metrics.stages.append(StageTiming(stage.name, seconds * 1000.0, stage.is_denoising))
            if ctx.timing:
                snap = _memory_snapshot(ctx.device)
                if snap is not None:
                    ctx.metrics.memory_snapshots[f"after_{stage.name}"] = snap

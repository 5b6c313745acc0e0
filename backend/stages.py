"""The generation stages, named like SGLang's, and the runner that times and logs them.

Stage lines use :mod:`backend.records` (``[Stage] started...`` / ``[Stage] finished in X seconds`` /
``[Stage] Error during execution after X ms: ...``).  They are printed at INFO when timing is on
(``SGLANG_DIFFUSION_STAGE_LOGGING`` or ``--perf-dump-path``) and at DEBUG otherwise, so the variable
has a visible effect.  Every denoising step writes one tqdm-shaped progress line to stderr.

Hooks for the neighbouring rooms (looked up at run time, optional): see :class:`CacheHooks` for
cache-dit (prepare before the denoising loop, stats after it -> ``cache_stats`` in
``performance.log``); ``backend.storage`` runs after :class:`SavingStage` (see :mod:`backend.runtime`).
"""

from __future__ import annotations

import importlib
import sys
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch

from backend.device import synchronize
from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import emit_raw, get_logger
from backend.records import (
    StageTiming,
    progress_message,
    stage_error_message,
    stage_finished_message,
    stage_started_message,
)
from backend.request import CancelToken, GenerationRequest, RequestMetrics

log = get_logger("stages")


class Cancelled(Exception):
    """The request was abandoned at a step boundary (SIGTERM)."""


@dataclass
class StageContext:
    """Everything one request's stages share: inputs, intermediates and metrics."""

    pipe: Any
    request: GenerationRequest
    settings: Any
    device: torch.device
    timing: bool
    cancel: CancelToken = field(default_factory=CancelToken)
    metrics: RequestMetrics = field(default_factory=RequestMetrics)
    extra_metadata: dict[str, str] = field(default_factory=dict)
    prompts: list[str] = field(default_factory=list)
    negatives: list[str] | None = None
    num_steps: int = 0
    height: int = 0
    width: int = 0
    guidance_scale: float = 1.0
    cond: Any = None
    timesteps: Any = None
    latents: torch.Tensor | None = None
    images: list[Any] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)


class PipelineStage:
    """One step of generation; its name in logs and records is the class name."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def forward(self, ctx: StageContext) -> None:
        raise NotImplementedError


class InputValidationStage(PipelineStage):
    def forward(self, ctx: StageContext) -> None:
        req, pipe = ctx.request, ctx.pipe
        from backend.models import shapes_pipeline as sp

        ctx.num_steps = req.num_inference_steps or int(getattr(sp, "DEFAULT_STEPS", 8))
        native = int(getattr(pipe, "native_size", 64))
        ctx.height, ctx.width = req.height or native, req.width or native
        ctx.guidance_scale = req.guidance_scale if req.guidance_scale is not None else getattr(sp, "DEFAULT_GUIDANCE", 1.0)
        if not req.prompt or not req.prompt.strip():
            raise BackendError(ExitCode.BAD_REQUEST, "Bad request: the prompt is empty")
        if ctx.num_steps < 1 or req.batch_size < 1:
            raise BackendError(ExitCode.BAD_REQUEST, "Bad request: steps and batch size must be >= 1")
        try:
            pipe.validate_prompt(req.prompt)
            if req.negative_prompt:
                pipe.validate_prompt(req.negative_prompt)
            if hasattr(pipe, "check_size"):
                pipe.check_size(ctx.height, ctx.width)
        except ValueError as exc:
            raise BackendError(ExitCode.BAD_REQUEST, f"Bad request: {exc}") from None
        from backend import caching

        caching.validate_for_steps(ctx.settings, ctx.num_steps, pipe)  # refuse before any step runs
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


class CacheHooks:
    """The denoising stage's view of :mod:`backend.caching` (cache-dit), whichever API that room offers.

    Preferred: ``caching.CacheController`` (one per pipeline, kept for the process) with
    ``prepare(pipe, settings, num_steps, timesteps)`` and ``stats() -> dict | None``.  Also accepted:
    module-level ``caching.prepare(pipe, settings, num_steps)`` / ``caching.finish() -> dict | None``.
    """

    _controllers: dict[int, Any] = {}

    def __init__(self, module: ModuleType, pipe: Any) -> None:
        self.module = module
        self.controller = None
        if hasattr(module, "CacheController"):
            key = id(pipe)
            if key not in self._controllers:
                self._controllers[key] = module.CacheController()
            self.controller = self._controllers[key]

    def prepare(self, pipe: Any, settings: Any, num_steps: int, timesteps: Any) -> None:
        if self.controller is not None:
            self.controller.prepare(pipe, settings, num_steps, timesteps)
        else:
            self.module.prepare(pipe, settings, num_steps)

    def before_step(self, index: int, t: Any) -> None:
        hook = getattr(self.module, "before_step", None)
        if hook is not None:
            hook(index, t)

    def finish(self) -> dict[str, Any] | None:
        if self.controller is not None:
            return self.controller.stats()  # type: ignore[no-any-return]
        finish = getattr(self.module, "finish", None)
        return finish() if callable(finish) else None


def caching_hooks(pipe: Any) -> CacheHooks | None:
    """Hooks into ``backend.caching`` when that room is present, else None (no caching)."""
    try:
        module = importlib.import_module("backend.caching")
    except ImportError:
        return None
    if hasattr(module, "CacheController") or callable(getattr(module, "prepare", None)):
        return CacheHooks(module, pipe)
    return None


class DenoisingStage(PipelineStage):
    def forward(self, ctx: StageContext) -> None:
        hooks = caching_hooks(ctx.pipe)
        total = len(ctx.timesteps)
        if hooks is not None:
            hooks.prepare(ctx.pipe, ctx.settings, total, ctx.timesteps)
        start = time.perf_counter()
        completed = False
        try:
            for index, t in enumerate(ctx.timesteps):
                if ctx.cancel.cancelled:
                    raise Cancelled(f"abandoned before step {index + 1}/{total}: the backend is stopping")
                step_start = time.perf_counter()
                if hooks is not None:
                    hooks.before_step(index, t)
                ctx.latents = ctx.pipe.denoise_step(ctx.latents, t, index, ctx.cond, ctx.guidance_scale)
                if ctx.timing:
                    synchronize(ctx.device)
                now = time.perf_counter()
                ctx.metrics.steps.append((now - step_start) * 1000.0)
                emit_raw(progress_message(index + 1, total, now - start), sys.stderr)
            completed = True
        finally:
            if hooks is not None and completed:
                ctx.metrics.cache_stats = hooks.finish()


class DecodingStage(PipelineStage):
    def forward(self, ctx: StageContext) -> None:
        ctx.images = ctx.pipe.decode(ctx.latents)


class SavingStage(PipelineStage):
    """Writes the PNGs (SGLang saves in its output handler; ours is a stage so it is timed too)."""

    def forward(self, ctx: StageContext) -> None:
        from backend.outputs import save_images

        ctx.paths = save_images(ctx)


DEFAULT_STAGES: tuple[type[PipelineStage], ...] = (
    InputValidationStage, TextEncodingStage, TimestepPreparationStage, LatentPreparationStage,
    DenoisingStage, DecodingStage, SavingStage,
)  # fmt: skip


def _memory_snapshot(device: torch.device) -> dict[str, float] | None:
    if device.type != "cuda":
        return None
    mb = 1024 * 1024
    return {
        "allocated_mb": round(torch.cuda.memory_allocated(device) / mb, 2),
        "reserved_mb": round(torch.cuda.memory_reserved(device) / mb, 2),
        "peak_allocated_mb": round(torch.cuda.max_memory_allocated(device) / mb, 2),
        "peak_reserved_mb": round(torch.cuda.max_memory_reserved(device) / mb, 2),
    }


def run_stages(ctx: StageContext, stages: tuple[type[PipelineStage], ...] = DEFAULT_STAGES) -> None:
    """Run every stage in order, timing and logging each (SGLang's StageProfiler).

    The ``[Stage] started...`` / ``finished in`` lines are INFO on every request, as in SGLang
    (section 6.2 of the runtime notes): the console's Timings view reads them.  Stage logging
    (``SGLANG_DIFFUSION_STAGE_LOGGING``) adds the performance.log record with per-step times."""
    level = 20  # INFO
    with torch.inference_mode():
        for stage_cls in stages:
            stage = stage_cls()
            log.log(level, stage_started_message(stage.name))
            start = time.perf_counter()
            try:
                stage.forward(ctx)
                if ctx.timing:
                    synchronize(ctx.device)
            except (BackendError, Cancelled):
                raise
            except Exception as exc:
                ms = (time.perf_counter() - start) * 1000.0
                log.error(stage_error_message(stage.name, ms, f"{type(exc).__name__}: {exc}".splitlines()[0]))
                exc.sgl_logged = True  # type: ignore[attr-defined]
                raise
            seconds = time.perf_counter() - start
            ctx.metrics.stages.append(StageTiming(stage.name, seconds * 1000.0))
            log.log(level, stage_finished_message(stage.name, seconds))
            if ctx.timing:
                snap = _memory_snapshot(ctx.device)
                if snap is not None:
                    ctx.metrics.memory_snapshots[f"after_{stage.name}"] = snap

"""The loaded backend: settings, device, attention, pipeline; runs one request at a time.

Start-up order matters: fault drills are installed *before* any decorated module is imported
(:mod:`backend.kernel_api.faults` decides wrapping at decoration time), the device is resolved before the model
loads, and the platform variables are applied to the loaded model.
"""

from __future__ import annotations

import json
import os
import time
import traceback
from argparse import Namespace
from typing import Any

from backend import envs
from backend.exit_codes import BackendError, ExitCode
from backend.logging_setup import get_logger
from backend.pipeline.request import CancelToken, GenerationRequest, GenerationResult

log = get_logger()


def setup_cache_dirs(cache_root: str) -> None:
    """Point torch compile caches under the cache root, as SGLang's worker does (unless set by the user).

    Directories are created on demand by whoever writes there.
    """
    base = os.path.join(cache_root, "torch_compile_cache")
    for var, sub in (("TORCHINDUCTOR_CACHE_DIR", "inductor"), ("TRITON_CACHE_DIR", "triton")):
        if not os.environ.get(var):
            os.environ[var] = os.path.join(base, sub)


def install_faults(specs: list[str] | None, rank: int = 0, processes: int = 1) -> None:
    """Install the ``--inject-fault`` drills of worker ``rank`` (of ``processes``); must run before
    backend.pipeline.attention is imported.  A fault scoped to a rank the run does not have is refused."""
    if not specs:
        return
    from backend.kernel_api import faults

    try:
        mine = faults.install(faults.FaultPlan.parse(specs).for_rank(rank, processes))
    except ValueError as exc:
        raise BackendError(ExitCode.USAGE, str(exc)) from None
    if mine is not None and mine.specs:
        where = f"worker {rank}: " if processes > 1 else ""
        log.warning("Fault injection armed: %s%s", where, ", ".join(str(s) for s in mine.specs))


_HOST_OOM_TEXTS = ("out of memory", "can't allocate memory", "cannot allocate memory")
"""A device OOM, and the CPU allocator's failure (``DefaultCPUAllocator: can't allocate memory ...
Error code 12 (Cannot allocate memory)``) under a memory or address-space limit."""


def is_out_of_memory(exc: BaseException) -> bool:
    """True for a device or host allocation failure, whatever the class (torch raises RuntimeError)."""
    if isinstance(exc, MemoryError):
        return True
    text = f"{type(exc).__name__}: {exc}".lower()
    return type(exc).__name__ == "OutOfMemoryError" or any(t in text for t in _HOST_OOM_TEXTS)


def classify(exc: BaseException) -> tuple[ExitCode, str]:
    """Exit code and one-line message for an unexpected exception during a request."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if is_out_of_memory(exc):
        return ExitCode.OUT_OF_MEMORY, f"Out of memory: {text}"
    if isinstance(exc, RuntimeError):
        return ExitCode.RUNTIME_ERROR, f"Generation failed: {text}"
    return ExitCode.INTERNAL, f"Internal error: {text}"


def failed_message(text: str) -> str:
    """``Failed to generate output for prompt: <str(exc)>``, SGLang's line for a failed request
    (its ``log_generation_timer``; a traceback follows unless the failure is a refusal of ours)."""
    return f"Failed to generate output for prompt: {text}"


class Runtime:
    """One process's loaded model and everything needed to serve requests with it."""

    def __init__(self, settings: envs.Settings, args: Namespace, rank: int = 0, workers: int = 1) -> None:
        self.settings = settings
        self.args = args
        self.rank = rank
        self.workers = workers
        self.pipe: Any = None
        self.model_name = ""
        self.last_result: GenerationResult | None = None
        self.storage: Any = None

    @property
    def cache_root(self) -> str:
        return str(self.settings[envs.CACHE_ROOT])

    def start(self) -> None:
        """Resolve device and attention, load the model, apply platform variables."""
        setup_cache_dirs(self.cache_root)
        from backend.artifacts.storage import CloudStorage

        self.storage = CloudStorage.from_settings(self.settings)  # storage on without a bucket: BAD_ENV now
        from backend.kernel_api.api_logging import instrument_pipeline
        from backend.pipeline import attention, loader, platform_effects
        from backend.pipeline.device import default_dtype, pick_device, place_worker

        self.device_choice = pick_device(self.settings[envs.TARGET_DEVICE])
        if self.workers > 1:
            self.device_choice = place_worker(self.device_choice, self.rank, self.workers)
        self.device = self.device_choice.device
        self.attention = attention.resolve(
            getattr(self.args, "attention_backend", None), self.settings[envs.ATTENTION_BACKEND],
            getattr(self.args, "attention_backend_config", None), self.settings[envs.ATTENTION_CONFIG])
        reader, why = loader.select_reader(bool(self.settings[envs.USE_RUNAI_MODEL_STREAMER]))
        path = loader.resolve_model_path(getattr(self.args, "model_path", None), self.cache_root)
        self.model_name = str(path)
        self.pipe = loader.load_pipeline(path, reader, why, self.device, default_dtype(self.device))
        attention.install(self.pipe)
        count = instrument_pipeline(self.pipe)
        if count:
            log.debug("Kernel API instrumentation wrapped %d callables", count)
        platform_effects.apply(self.settings, self.device_choice, self.pipe)
        from backend.caching.quiet_import import preload

        preload(self.settings)  # the cache-dit import stays out of the first request's timings

    def generate(self, req: GenerationRequest, cancel: CancelToken | None = None) -> GenerationResult:
        """Run one request through every stage; never raises for request-level failures."""
        from backend.artifacts import perf, profiler
        from backend.artifacts.images import save_images
        from backend.pipeline import attention
        from backend.pipeline.context import StageContext
        from backend.pipeline.limits import Limits
        from backend.pipeline.stages import Cancelled, run_stages
        from backend.records import generation_completed_message

        started = time.perf_counter()
        stage_logging = bool(self.settings[envs.STAGE_LOGGING])
        ctx = StageContext(self.pipe, req, self.settings, self.device, timing=stage_logging or bool(req.perf_dump_path),
                           cancel=cancel or CancelToken(), limits=Limits.from_args(self.args), rank=self.rank)
        described = attention.state().describe()
        ctx.extra_metadata = {"model": self.model_name, "attention": json.dumps(described, sort_keys=True)}
        result = GenerationResult(req.request_id, pid=os.getpid(), attention=described, metrics=ctx.metrics)
        traces: list[str] = []
        try:
            with profiler.maybe_profile(self.settings[envs.TORCH_PROFILER_DIR], req.request_id, self.device,
                                        self.rank, traces):
                run_stages(ctx)
            ctx.metrics.finish()  # worker-measured: excludes saving, as upstream's total_duration_ms
            perf.append_record(req, ctx.metrics, self.cache_root, stage_logging)
            result.paths = ctx.paths = save_images(ctx)
            log.info(generation_completed_message(time.perf_counter() - started))
            perf.write_dump(req, ctx.metrics, self.model_name)
            self._upload(result)
        except BackendError as exc:  # a refusal of ours: upstream's failure line, no traceback
            log.error(failed_message(exc.message))
            result.error, result.exit_code = exc.message, int(exc.code)
        except Cancelled as exc:
            log.warning("Request %s cancelled: %s", req.request_id, exc)
            result.error, result.exit_code = f"cancelled: {exc}", int(ExitCode.CANCELLED)
        except Exception as exc:  # noqa: BLE001 - every failure becomes upstream's lines + an exit code
            code, message = classify(exc)
            log.error("%s\n%s", failed_message(str(exc)), "".join(traceback.format_exception(exc)).rstrip("\n"))
            result.error, result.exit_code = message, int(code)
        result.trace_path = traces[0] if traces else None
        self.last_result = result
        return result

    def _upload(self, result: GenerationResult) -> None:
        """Upload after saving through ``backend.artifacts.storage`` (only when ``SGLANG_CLOUD_STORAGE_TYPE=s3``).

        ``CloudStorage.upload_all(paths) -> UploadReport`` logs ``Uploaded <path> to <url>`` or one
        warning per failed file and never deletes the local file; a failure sets ``UPLOAD_FAILED``
        (a warning exit code: the images exist locally).
        """
        if self.storage is None or not result.paths:
            return
        try:
            report = self.storage.upload_all(result.paths)
        except Exception as exc:  # noqa: BLE001 - upload trouble never loses the local files
            result.upload_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            result.exit_code = int(ExitCode.UPLOAD_FAILED)
            log.warning("Upload failed (%s); the images are kept locally", result.upload_error)
            return
        result.urls = dict(report.urls)
        if not report.ok:
            result.upload_error = report.error
            result.exit_code = int(ExitCode.UPLOAD_FAILED)

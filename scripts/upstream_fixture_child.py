"""One process of a fixture scenario: runs a released sglang's own logging code on CPU tensors.

Started by make_upstream_fixtures.py, never by hand. It imports the release's
kernel_api_logging, logging_utils, perf_logger and entrypoints/utils from the
unpacked wheel (argv[1]); only the imports those modules need and that cannot
load here (sglang's heavy packages, zmq, uvicorn, imageio) are stubbed. The
pipeline below only *drives* the release's StageProfiler / kernel decorator the
way its pipeline stages do; every line it leaves on disk is written by the
release's code, tqdm, torch or the interpreter.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import signal
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(sys.argv[1]).resolve()
SCENARIO = sys.argv[2]

# Modules of the release that run for real; every other sglang module is a stub.
_REAL_SUFFIXES = (
    "kernel_api_logging",
    "multimodal_gen.envs",
    "multimodal_gen.runtime.utils.logging_utils",
    "multimodal_gen.runtime.utils.perf_logger",
    "multimodal_gen.runtime.utils.common",
    "multimodal_gen.runtime.entrypoints.utils",
)
# Third-party modules those files import that this venv does not have.
_THIRD_PARTY_STUBS = ("zmq", "uvicorn", "imageio", "imageio_ffmpeg", "scipy")
_STUB_VALUES: dict[str, dict[str, Any]] = {
    "uvicorn.config": {"LOGGING_CONFIG": {"formatters": {"default": {}, "access": {}}}},
}


class _StubMeta(type):
    """A class that stands for any missing name: callable, subscriptable, a no-op decorator."""

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _stub_class(name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and callable(args[0]):
            return args[0]
        return _stub_class(cls.__name__)

    def __getitem__(cls, item: Any) -> Any:
        return cls

    def __or__(cls, other: Any) -> Any:
        return cls


def _stub_class(name: str) -> type:
    return _StubMeta(name, (), {})


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        value = _STUB_VALUES.get(self.__name__, {}).get(name)
        return value if value is not None else _stub_class(name)


class _StubLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _StubModule(spec.name)
        module.__path__ = []  # lets "import a.b.c" walk through stubs
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _BarePackageLoader(importlib.abc.Loader):
    """A package of the release whose __init__ is NOT run (it would pull in the whole runtime)."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        return None


class _UpstreamFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        top = name.split(".")[0]
        if top in _THIRD_PARTY_STUBS:
            if importlib.machinery.PathFinder.find_spec(top) is not None:
                return None
            return importlib.machinery.ModuleSpec(name, _StubLoader())
        if top != "sglang":
            return None
        parts = name.split(".")
        package_dir = ROOT.joinpath(*parts)
        if package_dir.is_dir():
            spec = importlib.machinery.ModuleSpec(name, _BarePackageLoader(), is_package=True)
            spec.submodule_search_locations = [str(package_dir)]
            spec.origin = str(package_dir / "__init__.py")
            spec.has_location = True
            return spec
        source = package_dir.with_suffix(".py")
        if source.is_file() and name.endswith(_REAL_SUFFIXES):
            return importlib.util.spec_from_file_location(name, source)
        return importlib.machinery.ModuleSpec(name, _StubLoader())


def _find_module_name(file_name: str) -> str:
    """Where this release keeps a module (it has moved between releases)."""
    hits = sorted(ROOT.joinpath("sglang").rglob(file_name))
    if not hits:
        raise SystemExit(f"{file_name} not found in the unpacked wheel")
    relative = hits[0].relative_to(ROOT).with_suffix("")
    return ".".join(relative.parts)


sys.meta_path.insert(0, _UpstreamFinder())
import torch  # noqa: E402
from tqdm import tqdm  # noqa: E402

kapi = importlib.import_module(_find_module_name("kernel_api_logging.py"))
logging_utils = importlib.import_module("sglang.multimodal_gen.runtime.utils.logging_utils")
perf_logger = importlib.import_module("sglang.multimodal_gen.runtime.utils.perf_logger")
try:
    entry_utils: types.ModuleType | None = importlib.import_module(
        "sglang.multimodal_gen.runtime.entrypoints.utils"
    )
except Exception as exc:  # a release whose save path needs more than the stubs give
    print(f"fixture: entrypoints.utils not loadable ({type(exc).__name__}: {exc})", file=sys.stderr)
    entry_utils = None

logger = logging_utils.init_logger("sglang.multimodal_gen.runtime.pipelines_core.stages.base")
STEPS = 4
KILL = signal.SIGKILL


def _kernel(module: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate like sglang does, under a module name sglang's kernels really have."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        func.__module__ = module
        return kapi.debug_kernel_api(func)

    return wrap


class Faults:
    """What the next kernel call should do; set by a scenario."""

    kill_in: str | None = None  # kernel name that SIGKILLs its own process
    raise_cuda_in: str | None = None


@_kernel("sglang.jit_kernel.norm")
def rmsnorm(x: torch.Tensor, weight: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    if Faults.kill_in == "rmsnorm":
        os.kill(os.getpid(), KILL)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


@_kernel("sglang.multimodal_gen.runtime.layers.attention.backends.sdpa")
def sdpa(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False) -> torch.Tensor:
    if Faults.kill_in == "sdpa":
        os.kill(os.getpid(), KILL)
    if Faults.raise_cuda_in == "sdpa":
        raise RuntimeError("CUDA error: an illegal memory access was encountered")
    scores = torch.bmm(q, k.transpose(1, 2)) / q.shape[-1] ** 0.5
    return torch.bmm(scores.softmax(-1), v)


@_kernel("sglang.jit_kernel.activation")
def silu_and_mul(x: torch.Tensor) -> torch.Tensor:
    gate, up = x.chunk(2, dim=-1)
    return torch.nn.functional.silu(gate) * up


class Request:
    def __init__(self, request_id: str, prompt: str, perf_dump: str | None = None) -> None:
        self.request_id = request_id
        self.prompt = prompt
        self.perf_dump = perf_dump
        self.metrics = perf_logger.RequestMetrics(request_id)


def _stage(name: str, req: Request) -> Any:
    """The profiler a pipeline stage wraps its forward in (base.py)."""
    return perf_logger.StageProfiler(
        name,
        logger=logger,
        metrics=req.metrics,
        log_stage_start_end=True,
        perf_dump_path_provided=req.perf_dump is not None,
    )


def _step(index: int, req: Request) -> Any:
    """The profiler the denoising loop wraps each step in (denoising.py)."""
    return perf_logger.StageProfiler(
        f"denoising_step_{index}",
        logger=logger,
        metrics=req.metrics,
        perf_dump_path_provided=req.perf_dump is not None,
        record_as_step=True,
    )


def _denoise(req: Request, latents: torch.Tensor, plan: dict[str, Any]) -> torch.Tensor:
    weight = torch.ones(latents.shape[-1])
    req.metrics.denoising_stages.add("DenoisingStage")
    # base.progress_bar: only the main rank shows the bar
    with _stage("DenoisingStage", req), tqdm(total=STEPS, disable=os.environ.get("RANK", "0") != "0") as bar:
        for index in range(STEPS):
            with _step(index, req):
                Faults.kill_in = plan.get("kill_kernel") if plan.get("step") == index else None
                Faults.raise_cuda_in = plan.get("cuda_kernel") if plan.get("step") == index else None
                hidden = rmsnorm(latents, weight, eps=1e-6)
                k = hidden
                if plan.get("shape_mismatch_step") == index:
                    k = hidden[:, :, : hidden.shape[-1] // 2]
                attn = sdpa(hidden, k, hidden, causal=False)
                latents = silu_and_mul(torch.cat([attn, latents], dim=-1))
                if plan.get("kill_outside_step") == index:
                    os.kill(os.getpid(), KILL)
                bar.update()
    return latents


def run_request(req: Request, index: int, total: int, plan: dict[str, Any]) -> None:
    """One request as the CLI generate path logs it (log_generation_timer around the stages)."""
    torch.manual_seed(index)
    latents = torch.randn(1, 4, 8)
    if plan.get("nan_input"):
        latents[0, 0, 0] = float("nan")
    start = perf_logger.time.perf_counter()
    with logging_utils.log_generation_timer(logger, req.prompt, index, total):
        with _stage("InputValidationStage", req):
            pass
        with _stage("TextEncodingStage", req):
            rmsnorm(torch.randn(1, 3, 8), torch.ones(8))
        latents = _denoise(req, latents, plan)
        with _stage("DecodingStage", req):
            image = (latents.nan_to_num(0.0).clamp(-1, 1)[0, :, :3] * 127 + 128).to(torch.uint8)
    req.metrics.total_duration_ms = (perf_logger.time.perf_counter() - start) * 1000
    if entry_utils is not None:
        frame = image.unsqueeze(0).expand(4, 4, 3).contiguous().numpy()
        output = entry_utils.MaterializedOutput(sample=None, frames=[frame], fps=0)
        path = os.path.abspath(f"images/{req.request_id}.png")
        entry_utils.save_materialized_output(output, "image", path)
    if req.perf_dump is not None:
        perf_logger.PerformanceLogger.dump_benchmark_report(
            req.perf_dump, req.metrics, meta={"prompt": req.prompt, "model": "tiny/cpu"}, tag="cli_generate"
        )
    perf_logger.PerformanceLogger.log_request_summary(req.metrics)


def serve(plans: list[dict[str, Any]], *, handled: bool = True) -> None:
    """Run requests one after the other; a failed request is logged and the next one runs."""
    for number, plan in enumerate(plans, start=1):
        req = Request(f"req-{number}", f"a tiny test prompt {number}", plan.get("perf_dump"))
        try:
            run_request(req, number, len(plans), plan)
        except Exception:
            if not (handled and plan.get("handled", True)):
                raise


class _Args:
    log_level = "info"
    uvicorn_access_log_exclude_prefixes = None


OK: dict[str, Any] = {}
STORY = [
    {"perf_dump": "perf/req-1.json"},
    {"shape_mismatch_step": 1},
    {"nan_input": True},
    {"kill_kernel": "sdpa", "step": 1},
]
SCENARIOS: dict[str, Callable[[], None]] = {
    "story": lambda: serve(STORY),
    "kill_in_step": lambda: serve([OK, {"kill_outside_step": 2}]),
    "kill_outside_kernel": lambda: serve([OK, {"kill_outside_step": 2}]),
    "handled_then_cuda_error": lambda: serve(
        [{"shape_mismatch_step": 1}, OK, {"cuda_kernel": "sdpa", "step": 2, "handled": False}]
    ),
    "clean": lambda: (serve([OK, OK]), logging_utils.log_batch_completion(logger, 2, 0.5)),
    "multiproc": lambda: serve(
        [{"kill_kernel": "sdpa", "step": 1}] if os.environ.get("RANK") == "1" else [OK]
    ),
}

if __name__ == "__main__":
    logging_utils.configure_logger(_Args())
    SCENARIOS[SCENARIO]()

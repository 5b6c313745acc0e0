"""Per-request torch profiler traces (``SGLANG_DIFFUSION_TORCH_PROFILER_DIR``).

When the directory is set (the registry already rejects relative paths), every request runs under
``torch.profiler`` and writes ``<dir>/<request_id>-rank-<R>.trace.json.gz`` (SGLang's newest name;
``R`` is the worker rank), then logs ``Saved profiler traces to: <abs path>``.  The directory is
created on demand.  A failed request still writes its trace: that is when it is most wanted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from backend.logging_setup import get_logger

log = get_logger("profiler")


def trace_path(directory: str, request_id: str, rank: int = 0) -> Path:
    return Path(directory) / f"{request_id}-rank-{rank}.trace.json.gz"


def _activities(device: torch.device) -> list[torch.profiler.ProfilerActivity]:
    acts = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        acts.append(torch.profiler.ProfilerActivity.CUDA)
    elif device.type == "xpu" and hasattr(torch.profiler.ProfilerActivity, "XPU"):
        acts.append(torch.profiler.ProfilerActivity.XPU)
    return acts


@contextmanager
def maybe_profile(directory: str | None, request_id: str, device: torch.device, rank: int = 0,
                  saved: list[str] | None = None) -> Iterator[None]:
    """Profile the body when ``directory`` is set; the trace path is appended to ``saved``."""
    if not directory:
        yield
        return
    prof = torch.profiler.profile(activities=_activities(device), record_shapes=True)
    prof.__enter__()
    try:
        yield
    finally:
        prof.__exit__(None, None, None)
        path = trace_path(directory, request_id, rank).resolve()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            prof.export_chrome_trace(str(path))
        except (OSError, RuntimeError) as exc:
            log.warning("Failed to save the profiler trace %s: %s", path, exc)
        else:
            log.info("Saved profiler traces to: %s", path)
            if saved is not None:
                saved.append(str(path))

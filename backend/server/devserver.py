"""Dev-mode HTTP endpoints (``SGLANG_DIFFUSION_SERVER_DEV_MODE=true``); absent (404) otherwise.

    GET  /health                        {"status": "ok", "pid", "uptime_s", "requests_served", "busy"}
    GET  /dev/settings                  every effective variable, secrets masked by the registry
    GET  /dev/memory                    process RSS and device memory (CUDA allocator stats)
    POST /dev/reload-attention-config   re-read the attention config file now (applied between requests)
    GET  /dev/last-request              the last request's result: paths, timings, error, attention
"""

from __future__ import annotations

import os
import time
from typing import Any, Protocol


class ServerState(Protocol):
    """What the dev endpoints read of the running server (``serve.Server`` is one).

    Why a protocol: the server routes requests here, so this module must not import it back.
    """

    dev_mode: bool
    stopping: bool
    started: float
    served: int
    busy: bool
    runtime: Any

    def request_reload(self) -> tuple[int, dict[str, Any]]: ...


ROUTES = {("GET", "/health"), ("GET", "/dev/settings"), ("GET", "/dev/memory"),
          ("POST", "/dev/reload-attention-config"), ("GET", "/dev/last-request")}


_MODEL_ROUTES = ("/dev/memory", "/dev/last-request", "/dev/reload-attention-config")
"""Routes that need this process's loaded model (not there with ``serve --num-workers``)."""


def memory(device: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"device": str(device)}
    try:
        import psutil

        out["rss_mb"] = round(psutil.Process(os.getpid()).memory_info().rss / 2**20, 2)
    except ImportError:
        pass
    import torch

    if getattr(device, "type", "") == "cuda":
        mb = 2**20
        out.update(allocated_mb=round(torch.cuda.memory_allocated(device) / mb, 2),
                   reserved_mb=round(torch.cuda.memory_reserved(device) / mb, 2),
                   peak_allocated_mb=round(torch.cuda.max_memory_allocated(device) / mb, 2),
                   peak_reserved_mb=round(torch.cuda.max_memory_reserved(device) / mb, 2))
        free, total = torch.cuda.mem_get_info(device)
        out.update(free_mb=round(free / mb, 2), total_mb=round(total / mb, 2))
    elif getattr(device, "type", "") == "mps":
        out["allocated_mb"] = round(torch.mps.current_allocated_memory() / 2**20, 2)
    return out


def handle(server: ServerState, method: str, path: str) -> tuple[int, dict[str, Any]] | None:
    """Answer a dev route, or None when dev mode is off or the route is not one of ours."""
    if not server.dev_mode or (method, path) not in ROUTES:
        return None
    if path == "/health":
        return 200, {"status": "stopping" if server.stopping else "ok", "pid": os.getpid(),
                     "uptime_s": round(time.monotonic() - server.started, 3),
                     "requests_served": server.served, "busy": server.busy}
    if getattr(server, "pool", None) is not None and path in _MODEL_ROUTES:
        return 409, {"error": {"message": f"{path} reads the loaded model, which lives in the worker processes "
                                          "with --num-workers (each worker's lines and records are in the log)",
                               "type": "not_in_this_process", "code": 409}}
    if path == "/dev/settings":
        return 200, {"settings": server.runtime.settings.masked()}
    if path == "/dev/memory":
        return 200, memory(server.runtime.device)
    if path == "/dev/last-request":
        last = server.runtime.last_result
        return (200, last.to_json()) if last is not None else (404, {"error": {"message": "no request yet"}})
    return server.request_reload()

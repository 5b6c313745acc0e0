"""Dev-mode HTTP endpoints (``SGLANG_DIFFUSION_SERVER_DEV_MODE=true``); absent (404) otherwise.

    GET  /health                        {"status": "ok", "pid", "uptime_s", "requests_served", "busy"}
    GET  /dev/settings                  every effective variable, secrets masked by the registry
    GET  /dev/memory                    process RSS and device memory (CUDA allocator stats)
    POST /dev/reload-attention-config   re-read the attention config file now (applied between requests)
    GET  /dev/last-request              the last request's result: paths, timings, error, attention

With ``serve --num-workers N`` the model lives in the workers: the last three routes are asked of
every worker (between its requests) and answered as ``{"workers": [{"rank", "pid", "status", ...}]}``.
"""

from __future__ import annotations

import os
import time
from typing import Any, Protocol

from backend.exit_codes import ExitCode
from backend.server.answers import error_answer


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

    def ask_model(self, path: str) -> tuple[int, dict[str, Any]]:
        """Answer a :data:`MODEL_ROUTES` route where the model lives (between requests)."""
        ...


ROUTES = {("GET", "/health"), ("GET", "/dev/settings"), ("GET", "/dev/memory"),
          ("POST", "/dev/reload-attention-config"), ("GET", "/dev/last-request")}


MODEL_ROUTES = ("/dev/memory", "/dev/last-request", "/dev/reload-attention-config")
"""Routes answered by the process that holds the model (each worker with ``serve --num-workers``)."""


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
    if path == "/dev/settings":
        return 200, {"settings": server.runtime.settings.masked()}
    return server.ask_model(path)


def model_answer(path: str, runtime: Any, stage: Any) -> tuple[int, dict[str, Any]]:
    """A :data:`MODEL_ROUTES` answer, in the process holding ``runtime`` (``stage``: its attention
    config watch, or None)."""
    if path == "/dev/memory":
        return 200, memory(runtime.device)
    if path == "/dev/last-request":
        last = runtime.last_result
        return (200, last.to_json()) if last is not None else (404, {"error": {"message": "no request yet"}})
    from backend.server.config_watch import reload_answer

    return reload_answer(stage)


def workers_answer(answers: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """One answer from every worker's (``rank``, ``pid``, ``status``, body): 200 when each answered
    200; else the first failure's status and message.  A worker with nothing to show (404: no
    request yet) fails the answer only when none has anything."""
    answers = sorted(answers, key=lambda a: a["rank"])
    if not answers:
        status, body = error_answer(503, "no worker is left to answer", ExitCode.WORKER_FAILED)
        return status, {**body, "workers": []}
    failed = [a for a in answers if a["status"] != 200 and a["status"] != 404]
    if not failed and any(a["status"] == 200 for a in answers):
        return 200, {"workers": answers}
    first = (failed or answers)[0]
    error = dict(first.get("error") or {})
    error["message"] = f"worker {first['rank']}: {error.get('message', 'failed')}"
    return first["status"], {"workers": answers, "error": error}

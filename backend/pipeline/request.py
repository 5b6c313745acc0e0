"""One generation request: its parameters, its identity and the timings gathered while it runs."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from backend.records import StageTiming


def new_request_id() -> str:
    return str(uuid.uuid4())


@dataclass
class GenerationRequest:
    """Sampling parameters of one request (a batch of ``batch_size`` images of one prompt)."""

    prompt: str
    negative_prompt: str | None = None
    num_inference_steps: int | None = None
    height: int | None = None
    width: int | None = None
    seed: int = 42
    batch_size: int = 1
    guidance_scale: float | None = None
    output_path: str = "outputs/"
    output_file_name: str | None = None
    perf_dump_path: str | None = None
    request_id: str = field(default_factory=new_request_id)
    index_offset: int = 0
    """Global index of this request's first image (workers split one batch); image i uses seed + i."""
    total_batch: int = 0
    """Size of the whole batch this request is part of (0: ``batch_size``); decides the ``_i`` name suffix."""
    perf_dump_tag: str = "cli_generate"

    def params(self) -> dict[str, Any]:
        return asdict(self)

    def image_seed(self, local_index: int) -> int:
        return self.seed + self.index_offset + local_index

    def params_hash(self, local_index: int = 0) -> str:
        """8 hex digits over the sampling parameters (SGLang's default output name suffix)."""
        keys = ("prompt", "negative_prompt", "num_inference_steps", "height", "width", "guidance_scale")
        data = {k: getattr(self, k) for k in keys} | {"seed": self.image_seed(local_index)}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:8]


@dataclass
class RequestMetrics:
    """Stage and step wall times of one request, in SGLang's units (milliseconds)."""

    started: float = field(default_factory=time.perf_counter)
    stages: list[StageTiming] = field(default_factory=list)
    steps: list[float] = field(default_factory=list)
    memory_snapshots: dict[str, Any] = field(default_factory=dict)
    cache_stats: dict[str, Any] | None = None
    total_duration_ms: float = 0.0

    def finish(self) -> None:
        self.total_duration_ms = (time.perf_counter() - self.started) * 1000.0

    def to_json(self) -> dict[str, Any]:
        return {
            "total_duration_ms": round(self.total_duration_ms, 3),
            "stages": [{"name": s.name, "execution_time_ms": round(s.execution_time_ms, 3)} for s in self.stages],
            "steps": [round(s, 3) for s in self.steps],
            **({"cache_stats": self.cache_stats} if self.cache_stats is not None else {}),
        }


@dataclass
class GenerationResult:
    """What a request produced: files, upload URLs, timings and any error."""

    request_id: str
    paths: list[str] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)
    metrics: RequestMetrics = field(default_factory=RequestMetrics)
    error: str | None = None
    exit_code: int = 0
    upload_error: str | None = None
    pid: int = 0
    attention: dict[str, Any] = field(default_factory=dict)
    trace_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id, "pid": self.pid, "paths": self.paths, "urls": self.urls,
            "timings": self.metrics.to_json(), "error": self.error, "exit_code": self.exit_code,
            "upload_error": self.upload_error, "attention": self.attention, "trace_path": self.trace_path,
        }


class CancelToken:
    """Set by a signal handler; the stages check it at every stage and step boundary.

    ``immediate`` (True until a request starts): a stop ends the process at once, from the handler;
    while the model loads (seconds of imports and reads) there is nothing to finish or to save.
    """

    def __init__(self, immediate: bool = False) -> None:
        self.event = threading.Event()
        self.immediate = immediate

    def cancel(self) -> None:
        self.event.set()

    @property
    def cancelled(self) -> bool:
        return self.event.is_set()

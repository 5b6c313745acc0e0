"""``performance.log`` JSON lines (:class:`PerfRecord`) and the ``--perf-dump-path`` report
(:class:`PerfDumpReport`), in SGLang 0.5.23's shapes.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from backend.atomic_files import append_private, atomic_write_bytes
from backend.records.log_lines import CYAN, RESET

PERF_LOG_FILE = "performance.log"
PERF_RECORD_TAG = "pipeline_stage_metrics"
MEMORY_SNAPSHOT_KEYS = ("allocated_mb", "reserved_mb", "peak_allocated_mb", "peak_reserved_mb", "peak_host_anon_mb")
"""One ``memory_snapshots["after_<Stage>"]`` entry: SGLang 0.5.23's ``MemorySnapshot.to_dict()``
(``multimodal_gen/runtime/utils/perf_logger.py``), megabytes rounded to 2 decimals."""


def memory_snapshot(*megabytes: float) -> dict[str, float]:
    """A snapshot entry from its values in :data:`MEMORY_SNAPSHOT_KEYS` order (all of them, or ValueError)."""
    return {key: round(value, 2) for key, value in zip(MEMORY_SNAPSHOT_KEYS, megabytes, strict=True)}


@dataclass(frozen=True)
class StageTiming:
    name: str
    execution_time_ms: float
    is_denoising: bool | None = None
    """SGLang 0.5.23 marks the denoiser's stages in ``performance.log``; ``None``: an older record without it."""

    def perf_log_entry(self) -> dict[str, Any]:
        """The ``performance.log`` stage entry (``is_denoising`` written when known, as upstream does)."""
        entry: dict[str, Any] = {"name": self.name, "execution_time_ms": self.execution_time_ms}
        if self.is_denoising is not None:
            entry["is_denoising"] = self.is_denoising
        return entry


@dataclass(frozen=True)
class PerfRecord:
    """One ``performance.log`` line; keys in SGLang's order.

    ``memory_snapshots`` defaults to ``{}`` and is then written as ``{}`` (SGLang 0.5.23 always writes
    it); ``None`` (an older record read back) omits it, so old lines round-trip byte for byte.
    ``cache_stats`` (newer upstream tests) is omitted when ``None``.
    """

    request_id: str
    timestamp: str
    commit_hash: str
    tag: str
    stages: tuple[StageTiming, ...]
    steps: tuple[float, ...]
    total_duration_ms: float
    memory_snapshots: dict[str, Any] | None = field(default_factory=dict)
    cache_stats: dict[str, Any] | None = None

    def to_json_line(self) -> str:
        data: dict[str, Any] = {
            "request_id": self.request_id,
            "timestamp": self.timestamp,
            "commit_hash": self.commit_hash,
            "tag": self.tag,
            "stages": [s.perf_log_entry() for s in self.stages],
            "steps": list(self.steps),
            "total_duration_ms": self.total_duration_ms,
        }
        if self.memory_snapshots is not None:
            data["memory_snapshots"] = self.memory_snapshots
        if self.cache_stats is not None:
            data["cache_stats"] = self.cache_stats
        return json.dumps(data)

    @classmethod
    def from_json_line(cls, line: str) -> PerfRecord:
        """Parse one line; raises ``ValueError`` (``json.JSONDecodeError`` included) on a bad record."""
        data = json.loads(line)
        if not isinstance(data, dict) or "stages" not in data or "request_id" not in data:
            raise ValueError("not a performance record")
        return cls(
            request_id=str(data["request_id"]),
            timestamp=str(data.get("timestamp", "")),
            commit_hash=str(data.get("commit_hash", "N/A")),
            tag=str(data.get("tag", PERF_RECORD_TAG)),
            stages=tuple(
                StageTiming(str(s["name"]), float(s["execution_time_ms"]),
                            None if s.get("is_denoising") is None else bool(s["is_denoising"]))
                for s in data["stages"]
            ),
            steps=tuple(float(x) for x in data.get("steps", [])),
            total_duration_ms=float(data.get("total_duration_ms", 0.0)),
            memory_snapshots=data.get("memory_snapshots"),
            cache_stats=data.get("cache_stats"),
        )


def utc_timestamp(when: datetime | None = None) -> str:
    """ISO-8601 UTC with offset, as in ``performance.log`` (``2026-05-01T12:34:56.789012+00:00``)."""
    return (when or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat()


def perf_log_dir(environ: Mapping[str, str] | None = None, fallback: str = "") -> str:
    """Directory of ``performance.log`` following ``SGLANG_PERF_LOG_DIR``.

    Non-empty: its absolute path. Set but empty: ``""``, meaning disabled (SGLang's own write then fails
    with a warning on every request; :func:`append_perf_record` skips it). Unset: ``fallback`` made
    absolute; SGLang uses ``<package>/../../.cache/logs``, our backend passes ``<cache root>/logs``.
    """
    env = os.environ if environ is None else environ
    value = env.get("SGLANG_PERF_LOG_DIR")
    if value is None:
        return os.path.abspath(fallback) if fallback else ""
    return os.path.abspath(value) if value else ""


def append_perf_record(directory: str, record: PerfRecord) -> Path | None:
    """Append ``record`` to ``<directory>/performance.log`` (created with parents).

    Returns the file path, or ``None`` when ``directory`` is ``""`` (logging disabled).
    """
    if not directory:
        return None
    path = Path(directory) / PERF_LOG_FILE
    append_private(path, record.to_json_line() + "\n")
    return path


def commit_hash(environ: Mapping[str, str] | None = None, cwd: str | None = None) -> str:
    """``SGLANG_GIT_COMMIT`` if non-empty, else ``git rev-parse HEAD`` in ``cwd``, else ``"N/A"``."""
    env = os.environ if environ is None else environ
    value = env.get("SGLANG_GIT_COMMIT")
    if value:
        return value
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "N/A"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "N/A"


@dataclass(frozen=True)
class PerfDumpReport:
    """The ``--perf-dump-path`` JSON file. ``steps`` are *stages* ``{"name", "duration_ms"}``.

    ``memory_checkpoints`` defaults to ``{}``, written as such (SGLang 0.5.23 always writes it, between
    ``denoise_steps_ms`` and ``meta``); ``None`` (an older report read back) omits it.
    """

    timestamp: str
    request_id: str
    commit_hash: str
    tag: str
    total_duration_ms: float
    steps: tuple[StageTiming, ...]
    denoise_steps_ms: tuple[float, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    memory_checkpoints: dict[str, Any] | None = field(default_factory=dict)

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "timestamp": self.timestamp,
            "request_id": self.request_id,
            "commit_hash": self.commit_hash,
            "tag": self.tag,
            "total_duration_ms": self.total_duration_ms,
            "steps": [{"name": s.name, "duration_ms": s.execution_time_ms} for s in self.steps],
            "denoise_steps_ms": [{"step": i, "duration_ms": d} for i, d in enumerate(self.denoise_steps_ms)],
        }
        if self.memory_checkpoints is not None:
            data["memory_checkpoints"] = self.memory_checkpoints
        data["meta"] = self.meta
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> PerfDumpReport:
        data = json.loads(text)
        denoise = sorted(data.get("denoise_steps_ms", []), key=lambda d: int(d.get("step", 0)))
        return cls(
            timestamp=str(data.get("timestamp", "")),
            request_id=str(data.get("request_id", "")),
            commit_hash=str(data.get("commit_hash", "N/A")),
            tag=str(data.get("tag", "")),
            total_duration_ms=float(data.get("total_duration_ms", 0.0)),
            steps=tuple(StageTiming(str(s["name"]), float(s["duration_ms"])) for s in data.get("steps", [])),
            denoise_steps_ms=tuple(float(d["duration_ms"]) for d in denoise),
            meta=dict(data.get("meta") or {}),
            memory_checkpoints=data.get("memory_checkpoints"),
        )




def metrics_dumped_message(path: str | os.PathLike[str]) -> str:
    """``Metrics dumped to: <abs path>``, the path in cyan as SGLang 0.5.23 writes it."""
    return f"Metrics dumped to: {CYAN}{os.path.abspath(path)}{RESET}"


def write_perf_dump(path: str | os.PathLike[str], report: PerfDumpReport) -> str:
    """Write the report atomically (parents created, temp file beside it, renamed over); returns the log
    message ``Metrics dumped to: <abs path>``.  Readers poll for this file: they never see half of it."""
    target = Path(os.path.abspath(path))
    atomic_write_bytes(target, report.to_json().encode("utf-8"))
    return metrics_dumped_message(target)

"""Timing records of a finished request: one ``performance.log`` line, and the ``--perf-dump-path`` report.

Both use :mod:`backend.records` (SGLang's exact shapes).  The log directory is ``SGLANG_PERF_LOG_DIR``
when set (empty: disabled), else ``<SGLANG_DIFFUSION_CACHE_ROOT>/logs`` (SGLang's own default, a
``.cache/logs`` beside its package, means nothing for an installed console).  Written when stage
logging is on or the request carries a perf dump path, as SGLang does.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from backend.logging_setup import get_logger
from backend.pipeline.request import GenerationRequest, RequestMetrics
from backend.records import (
    PERF_RECORD_TAG,
    PerfDumpReport,
    PerfRecord,
    append_perf_record,
    commit_hash,
    perf_log_dir,
    utc_timestamp,
    write_perf_dump,
)

log = get_logger("perf")


@lru_cache(maxsize=1)
def _commit() -> str:
    return commit_hash()


def log_dir(cache_root: str) -> str:
    """Where ``performance.log`` goes (``""`` when SGLANG_PERF_LOG_DIR is set but empty)."""
    return perf_log_dir(fallback=os.path.join(cache_root, "logs"))


def _cache_stats(metrics: RequestMetrics) -> dict[str, Any] | None:
    """``cache_stats`` only when cache-dit ran: SGLang 0.5.23 has no such key, newer revisions add it."""
    stats = metrics.cache_stats
    return stats if stats and stats.get("enabled", True) else None


def append_record(req: GenerationRequest, metrics: RequestMetrics, cache_root: str, stage_logging: bool) -> str | None:
    """Append the ``performance.log`` line (stage logging on, or the request has a perf dump path).

    Written before the outputs are saved, as upstream's worker does; a write failure is the same
    warning upstream prints.  Returns the performance.log path written, or None.
    """
    if not (stage_logging or req.perf_dump_path):
        return None
    record = PerfRecord(
        request_id=req.request_id, timestamp=utc_timestamp(), commit_hash=_commit(), tag=PERF_RECORD_TAG,
        stages=tuple(metrics.stages), steps=tuple(metrics.steps), total_duration_ms=metrics.total_duration_ms,
        memory_snapshots=dict(metrics.memory_snapshots), cache_stats=_cache_stats(metrics),
    )
    try:
        path = append_perf_record(log_dir(cache_root), record)
    except OSError as exc:
        log.warning("Failed to log performance record: %s", exc)
        return None
    if path:
        log.debug("Performance record appended to %s", path)
    return str(path) if path else None


def write_dump(req: GenerationRequest, metrics: RequestMetrics, model: str) -> None:
    """Write the ``--perf-dump-path`` report (after the outputs, as ``sglang generate`` does)."""
    if not req.perf_dump_path:
        return
    meta: dict[str, Any] = {"prompt": req.prompt, "model": model} if req.perf_dump_tag == "cli_generate" else {
        "model": model}
    report = PerfDumpReport(
        timestamp=utc_timestamp(), request_id=req.request_id, commit_hash=_commit(), tag=req.perf_dump_tag,
        total_duration_ms=metrics.total_duration_ms, steps=tuple(metrics.stages),
        denoise_steps_ms=tuple(metrics.steps), meta=meta, memory_checkpoints=dict(metrics.memory_snapshots),
    )
    try:
        log.info(write_perf_dump(req.perf_dump_path, report))
    except OSError as exc:
        log.error("Failed to dump metrics to %s: %s", os.path.abspath(req.perf_dump_path), exc)

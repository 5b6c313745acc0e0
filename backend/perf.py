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
from backend.request import GenerationRequest, RequestMetrics

log = get_logger("perf")


@lru_cache(maxsize=1)
def _commit() -> str:
    return commit_hash()


def log_dir(cache_root: str) -> str:
    """Where ``performance.log`` goes (``""`` when SGLANG_PERF_LOG_DIR is set but empty)."""
    return perf_log_dir(fallback=os.path.join(cache_root, "logs"))


def write_records(req: GenerationRequest, metrics: RequestMetrics, cache_root: str, model: str,
                  stage_logging: bool) -> str | None:
    """Append the performance.log line and write the dump report as the request asks.

    Returns:
        The performance.log path written, or None.
    """
    written = None
    if stage_logging or req.perf_dump_path:
        record = PerfRecord(
            request_id=req.request_id, timestamp=utc_timestamp(), commit_hash=_commit(), tag=PERF_RECORD_TAG,
            stages=tuple(metrics.stages), steps=tuple(metrics.steps), total_duration_ms=metrics.total_duration_ms,
            memory_snapshots=metrics.memory_snapshots or None, cache_stats=metrics.cache_stats,
        )  # fmt: skip
        try:
            path = append_perf_record(log_dir(cache_root), record)
        except OSError as exc:
            log.warning("Failed to log performance record: %s", exc)
        else:
            written = str(path) if path else None
            if path:
                log.debug("Performance record appended to %s", path)
    if req.perf_dump_path:
        meta: dict[str, Any] = {"prompt": req.prompt, "model": model} if req.perf_dump_tag == "cli_generate" else {
            "model": model}
        report = PerfDumpReport(
            timestamp=utc_timestamp(), request_id=req.request_id, commit_hash=_commit(), tag=req.perf_dump_tag,
            total_duration_ms=metrics.total_duration_ms, steps=tuple(metrics.stages),
            denoise_steps_ms=tuple(metrics.steps), meta=meta,
            memory_checkpoints=metrics.memory_snapshots or None,
        )  # fmt: skip
        try:
            log.info(write_perf_dump(req.perf_dump_path, report))
        except OSError as exc:
            log.warning("Failed to write the perf dump %s: %s", req.perf_dump_path, exc)
    return written

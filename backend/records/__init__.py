"""Record shapes shared by the backend (writer) and the console (parser).

One writer and one parser per shape, matching SGLang diffusion's own output so the console can read a
real ``sglang generate`` / ``sglang serve`` as well as our backend. Standard library only: no torch,
no textual, no rich.

Shapes:
    * ordinary log lines ``[MM-DD HH:MM:SS] message`` (:func:`format_log_line`, :func:`split_log_prefix`);
    * stage lines ``[Stage] started...`` / ``finished in S seconds`` / ``Error during execution ...``;
    * the tqdm denoising progress bar (:func:`progress_message`, :class:`ProgressRecord`);
    * ``performance.log`` JSON lines (:class:`PerfRecord`) and the ``--perf-dump-path`` report
      (:class:`PerfDumpReport`);
    * a few notable SGLang lines (:class:`ProfilerTracesSaved`, :class:`MetricsDumped`, :class:`Uploaded`,
      :class:`OutputSaved`, :class:`CudaError`), all recognised by :func:`parse_line`;
    * kernel API crash-debug blocks (:func:`kernel_call_begin_lines`, :func:`kernel_call_end_lines`,
      :class:`KernelApiLogParser`) and their dump folders (:func:`dump_dir_name`, :class:`DumpMetadata`,
      :func:`scan_dump_root`).

This module is the one import point: the log-line helpers live in :mod:`backend.records.log_lines`, the
kernel blocks in :mod:`backend.records.kernel_records` and the dump folders in :mod:`backend.records.dump_records`,
and every public name of those is re-exported here (see ``__all__``). They import nothing from this
module, so there is no cycle.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from backend.atomic_files import append_private, atomic_write_bytes
from backend.records.dump_records import (
    DUMP_METADATA_FILE,
    DUMP_TIME_FORMAT,
    DumpEntry,
    DumpMetadata,
    dump_dir_name,
    dump_timestamp,
    read_dump_metadata,
    scan_dump_root,
)
from backend.records.kernel_records import (
    GRAPH_CAPTURE_NOTE,
    KERNEL_API_SEPARATOR,
    KERNEL_API_TIME_FORMAT,
    ArgDesc,
    KernelApiCall,
    KernelApiLogParser,
    TensorDesc,
    TensorStats,
    ValueDesc,
    kernel_call_begin_lines,
    kernel_call_end_lines,
    kernel_call_header,
    kernel_exception_line,
    parse_kernel_api_log,
    parse_value,
    render_section,
    render_value,
)
from backend.records.log_lines import LOG_DATE_FORMAT, format_log_line, split_log_prefix, strip_ansi
from backend.records.request_records import (
    ExceptionRaised,
    GenerationDone,
    GenerationFailed,
    RequestStarted,
    cuda_kind,
    parse_request_line,
)

# --------------------------------------------------------------------------------------------------
# Stage lines (StageProfiler)
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageStarted:
    stage: str
    free_gb: float | None = None
    """Free device memory; only newer SGLang revisions at DEBUG level print it."""


@dataclass(frozen=True)
class StageFinished:
    stage: str
    seconds: float


@dataclass(frozen=True)
class StageError:
    stage: str
    ms: float
    error: str


def stage_started_message(stage: str) -> str:
    return f"[{stage}] started..."


def stage_finished_message(stage: str, seconds: float) -> str:
    return f"[{stage}] finished in {seconds:.4f} seconds"


def stage_error_message(stage: str, ms: float, exc_text: str) -> str:
    return f"[{stage}] Error during execution after {ms:.4f} ms: {exc_text}"


# --------------------------------------------------------------------------------------------------
# Progress (tqdm)
# --------------------------------------------------------------------------------------------------

_BAR_WIDTH = 10
_BAR_CHARS = " ▏▎▍▌▋▊▉█"
_PROGRESS_RE = re.compile(
    r"(?:(?P<desc>[^|\r\n]*?): *)?(?P<pct>\d{1,3})%\|(?P<bar>[^|]*)\| *(?P<n>\d+)/(?P<total>\d+)"
    r" \[(?P<elapsed>[\d:]+)<(?P<remaining>[\d:]+|\?)"
    r"(?:, *(?P<rate>[\d.]+|\?)(?P<unit>it/s|s/it))?"
)


@dataclass(frozen=True)
class ProgressRecord:
    """One tqdm progress update (ours, one line per step, or a real tqdm fragment split on ``\\r``)."""

    step: int
    total: int
    percent: int
    elapsed_s: float
    remaining_s: float | None
    rate_its: float | None
    """Iterations per second (tqdm's ``s/it`` form is inverted); ``None`` before the first step."""
    desc: str = ""

    @classmethod
    def parse(cls, text: str) -> ProgressRecord | None:
        m = _PROGRESS_RE.search(text)
        if not m:
            return None
        rate: float | None = None
        if m.group("rate") and m.group("rate") != "?":
            rate = float(m.group("rate"))
            if m.group("unit") == "s/it":
                rate = 1.0 / rate if rate else None
        rem = m.group("remaining")
        return cls(
            step=int(m.group("n")),
            total=int(m.group("total")),
            percent=int(m.group("pct")),
            elapsed_s=_parse_interval(m.group("elapsed")),
            remaining_s=None if rem == "?" else _parse_interval(rem),
            rate_its=rate,
            desc=(m.group("desc") or "").strip(),
        )


def _format_interval(seconds: float) -> str:
    mins, s = divmod(int(seconds), 60)
    h, m = divmod(mins, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _parse_interval(text: str) -> float:
    total = 0
    for part in text.split(":"):
        total = total * 60 + int(part)
    return float(total)


def progress_message(step: int, total: int, elapsed_s: float) -> str:
    """A tqdm-shaped progress line, e.g. `` 50%|█████     | 4/8 [00:01<00:01,  3.20it/s]``.

    Same bar (10 cells, eighth blocks), intervals and rate formats as tqdm's default without a tty.
    """
    frac = step / total if total else 0.0
    full, part = divmod(int(frac * _BAR_WIDTH * (len(_BAR_CHARS) - 1)), len(_BAR_CHARS) - 1)
    bar = "█" * full
    if full < _BAR_WIDTH:
        bar += _BAR_CHARS[part] + " " * (_BAR_WIDTH - full - 1)
    rate = step / elapsed_s if step and elapsed_s > 0 else None
    if rate is None:
        remaining, rate_txt = "?", "?it/s"
    else:
        remaining = _format_interval((total - step) / rate)
        rate_txt = f"{rate:5.2f}it/s" if rate >= 1 else f"{1 / rate:5.2f}s/it"
    return f"{frac * 100:3.0f}%|{bar}| {step}/{total} [{_format_interval(elapsed_s)}<{remaining}, {rate_txt}]"


# --------------------------------------------------------------------------------------------------
# performance.log and the --perf-dump-path report
# --------------------------------------------------------------------------------------------------

PERF_LOG_FILE = "performance.log"
PERF_RECORD_TAG = "pipeline_stage_metrics"


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


CYAN = "\x1b[1;36m"
GREEN = "\x1b[92m"
RESET = "\x1b[0;0m"
"""SGLang's inline colours: paths in cyan, durations in green (``logging_utils.py``)."""


def metrics_dumped_message(path: str | os.PathLike[str]) -> str:
    """``Metrics dumped to: <abs path>``, the path in cyan as SGLang 0.5.23 writes it."""
    return f"Metrics dumped to: {CYAN}{os.path.abspath(path)}{RESET}"


def write_perf_dump(path: str | os.PathLike[str], report: PerfDumpReport) -> str:
    """Write the report atomically (parents created, temp file beside it, renamed over); returns the log
    message ``Metrics dumped to: <abs path>``.  Readers poll for this file: they never see half of it."""
    target = Path(os.path.abspath(path))
    atomic_write_bytes(target, report.to_json().encode("utf-8"))
    return metrics_dumped_message(target)


# --------------------------------------------------------------------------------------------------
# Other notable lines
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfilerTracesSaved:
    path: str


@dataclass(frozen=True)
class MetricsDumped:
    path: str


@dataclass(frozen=True)
class Uploaded:
    path: str
    url: str
    """The URL, or ``"presigned URL"`` for the newer presigned-upload message."""


@dataclass(frozen=True)
class OutputSaved:
    path: str


@dataclass(frozen=True)
class CudaError:
    message: str
    kind: str
    """``device_assert``, ``oom`` or ``cuda`` (other CUDA/accelerator errors), judged by the text only:
    a CPU ``RuntimeError`` is an :class:`ExceptionRaised`, not a CudaError."""


def output_saved_message(path: str | os.PathLike[str]) -> str:
    """``Output saved to <path>``, the path in cyan, as SGLang 0.5.23 writes it."""
    return f"Output saved to {CYAN}{path}{RESET}"


def generation_completed_message(seconds: float) -> str:
    """``Pixel data generated successfully in <s, 2 decimals> seconds``, the duration in green
    (parsed as :class:`GenerationDone`)."""
    return f"Pixel data generated successfully in {GREEN}{seconds:.2f}{RESET} seconds"


Record = (
    StageStarted
    | StageFinished
    | StageError
    | ProgressRecord
    | PerfRecord
    | ProfilerTracesSaved
    | MetricsDumped
    | Uploaded
    | OutputSaved
    | CudaError
    | RequestStarted
    | GenerationDone
    | GenerationFailed
    | ExceptionRaised
)

_STAGE_STARTED_RE = re.compile(r"^\[(\w+)\] started\.\.\.(?: \((\d+(?:\.\d+)?) GB left\))?\s*$")
_STAGE_FINISHED_RE = re.compile(r"^\[(\w+)\] finished in (\d+(?:\.\d+)?) seconds\s*$")
_STAGE_ERROR_RE = re.compile(r"^\[(\w+)\] Error during execution after (\d+(?:\.\d+)?) ms: (.*)$")
_TRACES_RE = re.compile(r"^Saved profiler traces to: (.+?)\s*$")
_METRICS_RE = re.compile(r"^(?:\[Performance\] )?Metrics dumped to: (.+?)\s*$")
_UPLOADED_RE = re.compile(r"^Uploaded (.+?) to (presigned URL|\S+)\s*$")
_OUTPUT_RE = re.compile(
    r"^(?:Saved (?:outputs?|images?|videos?)(?: to)?:? |(?:Outputs?|Images?|Videos?) saved to:? )(.+?)\s*$"
)

def parse_line(line: str) -> Record | None:
    """Recognise one console line (ANSI and a log prefix allowed) as a record, or return ``None``.

    A line holding ``\\r``-separated tqdm fragments is judged by its last non-empty fragment.
    Kernel API blocks are multi-line: feed those to :class:`KernelApiLogParser` instead.
    """
    text = strip_ansi(line).rstrip("\r\n")
    if "\r" in text:
        parts = [p for p in text.split("\r") if p.strip()]
        text = parts[-1] if parts else ""
    _, _, msg = split_log_prefix(text)
    stripped = msg.strip()
    if not stripped:
        return None
    if stripped.startswith("{"):
        try:
            record = PerfRecord.from_json_line(stripped)
        except (ValueError, KeyError, TypeError):
            record = None
        if record is not None:
            return record
    m = _STAGE_STARTED_RE.match(msg)
    if m:
        return StageStarted(m.group(1), float(m.group(2)) if m.group(2) else None)
    m = _STAGE_FINISHED_RE.match(msg)
    if m:
        return StageFinished(m.group(1), float(m.group(2)))
    m = _STAGE_ERROR_RE.match(msg)
    if m:
        return StageError(m.group(1), float(m.group(2)), m.group(3))
    if "%|" in msg:
        progress = ProgressRecord.parse(msg)
        if progress is not None:
            return progress
    for regex, make in (
        (_TRACES_RE, lambda m: ProfilerTracesSaved(m.group(1))),
        (_METRICS_RE, lambda m: MetricsDumped(m.group(1))),
        (_UPLOADED_RE, lambda m: Uploaded(m.group(1), m.group(2))),
        (_OUTPUT_RE, lambda m: OutputSaved(m.group(1))),
    ):
        m = regex.match(stripped)
        if m:
            return make(m)  # type: ignore[no-any-return]
    request = parse_request_line(stripped)
    if isinstance(request, ExceptionRaised) and request.cuda is not None:
        return CudaError(stripped, request.cuda)
    if request is not None:
        return request
    kind = cuda_kind(stripped)
    return CudaError(stripped, kind) if kind is not None else None


__all__ = [
    "LOG_DATE_FORMAT",
    "strip_ansi",
    "format_log_line",
    "split_log_prefix",
    "StageStarted",
    "StageFinished",
    "StageError",
    "stage_started_message",
    "stage_finished_message",
    "stage_error_message",
    "ProgressRecord",
    "progress_message",
    "PERF_LOG_FILE",
    "PERF_RECORD_TAG",
    "StageTiming",
    "PerfRecord",
    "utc_timestamp",
    "perf_log_dir",
    "append_perf_record",
    "commit_hash",
    "PerfDumpReport",
    "metrics_dumped_message",
    "write_perf_dump",
    "ProfilerTracesSaved",
    "MetricsDumped",
    "Uploaded",
    "OutputSaved",
    "CudaError",
    "RequestStarted",
    "GenerationDone",
    "GenerationFailed",
    "ExceptionRaised",
    "cuda_kind",
    "output_saved_message",
    "generation_completed_message",
    "CYAN",
    "GREEN",
    "RESET",
    "Record",
    "parse_line",
    "KERNEL_API_SEPARATOR",
    "KERNEL_API_TIME_FORMAT",
    "GRAPH_CAPTURE_NOTE",
    "TensorStats",
    "TensorDesc",
    "ArgDesc",
    "ValueDesc",
    "render_value",
    "render_section",
    "kernel_call_header",
    "kernel_exception_line",
    "kernel_call_begin_lines",
    "kernel_call_end_lines",
    "parse_value",
    "KernelApiCall",
    "KernelApiLogParser",
    "parse_kernel_api_log",
    "DUMP_TIME_FORMAT",
    "DUMP_METADATA_FILE",
    "dump_timestamp",
    "dump_dir_name",
    "DumpMetadata",
    "read_dump_metadata",
    "DumpEntry",
    "scan_dump_root",
]

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

This package is the one import point (``from backend.records import X``): each family lives in a module
of its own (``log_lines``, ``stage_lines``, ``progress_lines``, ``perf_records``, ``notable_lines``,
``request_records``, ``kernel_records``, ``kernel_values``, ``dump_records``), every public name of those is
re-exported here (see ``__all__``), and :func:`parse_line` recognises a line of any of them. The families import nothing
from this module, so there is no cycle.
"""

from __future__ import annotations

import re

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
    KernelApiCall,
    KernelApiLogParser,
    kernel_call_begin_lines,
    kernel_call_end_lines,
    kernel_call_header,
    kernel_exception_line,
    parse_kernel_api_log,
    render_section,
)
from backend.records.kernel_values import (
    ArgDesc,
    TensorDesc,
    TensorStats,
    ValueDesc,
    parse_value,
    render_value,
)
from backend.records.log_lines import (
    CYAN,
    GREEN,
    LOG_DATE_FORMAT,
    RESET,
    dp_rank,
    format_log_line,
    log_rank_tag,
    split_log_prefix,
    strip_ansi,
)
from backend.records.notable_lines import (
    CudaError,
    MetricsDumped,
    OutputSaved,
    ProfilerTracesSaved,
    Uploaded,
    generation_completed_message,
    output_saved_message,
)
from backend.records.perf_records import (
    MEMORY_SNAPSHOT_KEYS,
    PERF_LOG_FILE,
    PERF_RECORD_TAG,
    PerfDumpReport,
    PerfRecord,
    StageTiming,
    append_perf_record,
    commit_hash,
    memory_snapshot,
    metrics_dumped_message,
    perf_log_dir,
    utc_timestamp,
    write_perf_dump,
)
from backend.records.progress_lines import ProgressRecord, progress_message
from backend.records.request_records import (
    ExceptionRaised,
    GenerationDone,
    GenerationFailed,
    RequestStarted,
    cuda_kind,
    parse_request_line,
    request_started_message,
)
from backend.records.stage_lines import (
    StageError,
    StageFinished,
    StageStarted,
    stage_error_message,
    stage_finished_message,
    stage_started_message,
)
from backend.records.worker_lines import (
    WorkerEnded,
    WorkerPlaced,
    note_worker,
    parse_worker_line,
    worker_died_message,
    worker_finished_message,
    worker_placed_message,
)

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
    | WorkerPlaced
    | WorkerEnded
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
            return make(m)
    worker = parse_worker_line(stripped)
    if worker is not None:
        return worker
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
    "dp_rank",
    "format_log_line",
    "log_rank_tag",
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
    "MEMORY_SNAPSHOT_KEYS",
    "memory_snapshot",
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
    "request_started_message",
    "GenerationDone",
    "GenerationFailed",
    "ExceptionRaised",
    "cuda_kind",
    "output_saved_message",
    "WorkerPlaced",
    "WorkerEnded",
    "parse_worker_line",
    "note_worker",
    "worker_placed_message",
    "worker_finished_message",
    "worker_died_message",
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

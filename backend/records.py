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
      :func:`scan_dump_root`); the kernel-block part lives in the second half of this module.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------------------------------
# Log lines
# --------------------------------------------------------------------------------------------------

LOG_DATE_FORMAT = "%m-%d %H:%M:%S"
"""``datefmt`` of SGLang diffusion's root logger (format ``[%(asctime)s] %(message)s``)."""

_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_DIFFUSION_PREFIX_RE = re.compile(r"^\[(\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] ")
_UVICORN_PREFIX_RE = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] ([A-Z]+):\s+")


def strip_ansi(s: str) -> str:
    """Remove ANSI escape sequences (SGLang colours whole lines and paths/durations inside them)."""
    return _ANSI_RE.sub("", s)


def format_log_line(message: str, when: datetime | None = None) -> str:
    """Render ``[MM-DD HH:MM:SS] message``, the shape of SGLang diffusion's log lines."""
    return f"[{(when or datetime.now()).strftime(LOG_DATE_FORMAT)}] {message}"


def split_log_prefix(line: str) -> tuple[str | None, str | None, str]:
    """Split an (ANSI-free) line into ``(stamp, level, message)``.

    Recognises the diffusion prefix ``[MM-DD HH:MM:SS] `` (level ``None``) and the uvicorn prefix
    ``[YYYY-MM-DD HH:MM:SS] LEVEL:<pad>``; a line with neither comes back as ``(None, None, line)``.
    """
    m = _DIFFUSION_PREFIX_RE.match(line)
    if m:
        return m.group(1), None, line[m.end() :]
    m = _UVICORN_PREFIX_RE.match(line)
    if m:
        return m.group(1), m.group(2), line[m.end() :]
    return None, None, line


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


@dataclass(frozen=True)
class PerfRecord:
    """One ``performance.log`` line; keys in SGLang's order, optional keys omitted when ``None``."""

    request_id: str
    timestamp: str
    commit_hash: str
    tag: str
    stages: tuple[StageTiming, ...]
    steps: tuple[float, ...]
    total_duration_ms: float
    memory_snapshots: dict[str, Any] | None = None
    cache_stats: dict[str, Any] | None = None

    def to_json_line(self) -> str:
        data: dict[str, Any] = {
            "request_id": self.request_id,
            "timestamp": self.timestamp,
            "commit_hash": self.commit_hash,
            "tag": self.tag,
            "stages": [{"name": s.name, "execution_time_ms": s.execution_time_ms} for s in self.stages],
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
            stages=tuple(StageTiming(str(s["name"]), float(s["execution_time_ms"])) for s in data["stages"]),
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
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(record.to_json_line() + "\n")
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
    """The ``--perf-dump-path`` JSON file. ``steps`` are *stages* ``{"name", "duration_ms"}``."""

    timestamp: str
    request_id: str
    commit_hash: str
    tag: str
    total_duration_ms: float
    steps: tuple[StageTiming, ...]
    denoise_steps_ms: tuple[float, ...]
    meta: dict[str, Any] = field(default_factory=dict)
    memory_checkpoints: dict[str, Any] | None = None

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
    return f"Metrics dumped to: {os.path.abspath(path)}"


def write_perf_dump(path: str | os.PathLike[str], report: PerfDumpReport) -> str:
    """Write the report (parents created); returns the log message ``Metrics dumped to: <abs path>``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(report.to_json(), encoding="utf-8")
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
    """``device_assert``, ``oom``, ``cuda`` (other CUDA/accelerator errors) or ``runtime``."""


def output_saved_message(path: str | os.PathLike[str]) -> str:
    return f"Saved output to: {path}"


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
_CUDA_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("device_assert", re.compile(r"device-side assert triggered|Assertion `.*` failed")),
    ("oom", re.compile(r"(?:CUDA|HIP|XPU)? ?out of memory|OutOfMemoryError")),
    (
        "cuda",
        re.compile(
            r"CUDA error|CUBLAS_STATUS_|CUDNN_STATUS_|AcceleratorError|NCCL error|"
            r"illegal memory access|unspecified launch failure"
        ),
    ),
    ("runtime", re.compile(r"^(?:\w+\.)*RuntimeError: ")),
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
    for kind, regex in _CUDA_RULES:
        if regex.search(stripped):
            return CudaError(stripped, kind)
    return None


# --------------------------------------------------------------------------------------------------
# Kernel API crash-debug blocks (SGLANG_KERNEL_API_*)
# --------------------------------------------------------------------------------------------------

KERNEL_API_SEPARATOR = "=" * 80
KERNEL_API_TIME_FORMAT = "[%Y-%m-%d %H:%M:%S]"
DUMP_TIME_FORMAT = "%Y%m%d_%H%M%S_%f"
"""Folder/metadata timestamp; SGLang cuts the microseconds to milliseconds (``[:-3]``)."""
GRAPH_CAPTURE_NOTE = "graph capture in progress"


@dataclass(frozen=True)
class TensorStats:
    """Level-5 statistics of a tensor, or one of SGLang's special forms in ``note``.

    ``note`` is e.g. ``"empty tensor"``, ``"skipped: graph capture in progress"`` or
    ``"unavailable: RuntimeError"``; the numbers are then ``None``.
    """

    min: float | None = None
    max: float | None = None
    mean: float | None = None
    nan_count: int = 0
    inf_count: int = 0
    note: str | None = None


@dataclass(frozen=True)
class TensorDesc:
    """A tensor as the kernel API log shows it; built from plain values so this module needs no torch."""

    shape: tuple[int, ...]
    dtype: str
    """As ``str(tensor.dtype)``, e.g. ``"torch.float16"``."""
    device: str
    """As ``str(tensor.device)``, e.g. ``"cuda:0"``."""
    requires_grad: bool = False
    is_contiguous: bool = True
    stats: TensorStats | None = None


@dataclass(frozen=True)
class ArgDesc:
    """Any non-tensor value as the kernel API log shows it.

    ``kind`` is one of ``repr`` (scalars and strings: ``text`` is the ``repr``), ``list`` / ``tuple`` /
    ``dict`` (``items`` holds ``(label, value)``: the index, or the key's ``repr``; ``more`` counts the
    items beyond the 4 (8 for dicts) shown), ``object`` (``text`` is the type name, ``attrs`` its
    ``shape``/``dtype``/``device`` or ``repr`` lines), ``elided`` (nesting cut: ``Type(...)``) or
    ``raw`` (lines the parser could not read, kept as ``text``).
    """

    kind: str
    text: str = ""
    items: tuple[tuple[str, ValueDesc], ...] = ()
    more: int = 0
    attrs: tuple[tuple[str, str], ...] = ()


ValueDesc = TensorDesc | ArgDesc


def _fmt_stat(value: float | None) -> str:
    return "nan" if value is None else f"{value:.6f}"


def render_value(value: ValueDesc) -> list[str]:
    """Render one value as SGLang's ``_serialize_value`` does: the first line plus relative lines."""
    if isinstance(value, TensorDesc):
        lines = [
            "Tensor(",
            f"  shape={tuple(value.shape)}",
            f"  dtype={value.dtype}",
            f"  device={value.device}",
            f"  requires_grad={value.requires_grad}",
            f"  is_contiguous={value.is_contiguous}",
        ]
        st = value.stats
        if st is not None:
            if st.note is not None:
                lines.append(f"  statistics=[{st.note}]")
            else:
                lines += [
                    f"  min={_fmt_stat(st.min)}",
                    f"  max={_fmt_stat(st.max)}",
                    f"  mean={_fmt_stat(st.mean)}",
                    f"  nan_count={st.nan_count}",
                    f"  inf_count={st.inf_count}",
                ]
        return [*lines, ")"]
    kind = value.kind
    if kind in ("list", "tuple", "dict"):
        opener, closer = {"list": ("[", "]"), "tuple": ("(", ")"), "dict": ("{", "}")}[kind]
        lines = [opener]
        for label, item in value.items:
            item_lines = render_value(item)
            lines.append(f"  [{label}] {item_lines[0]}" if kind != "dict" else f"  {label}: {item_lines[0]}")
            lines += [f"      {extra}" for extra in item_lines[1:]]
        if value.more:
            lines.append(f"  ... ({value.more} more items)")
        return [*lines, closer]
    if kind == "object":
        return [f"{value.text}(", *(f"  {k}={v}" for k, v in value.attrs), ")"]
    if kind == "elided":
        return [f"{value.text}(...)"]
    return value.text.split("\n") if value.text else [""]


def render_section(title: str, entries: Iterable[tuple[str, ValueDesc]]) -> list[str]:
    """``title`` then ``  name=<first line>`` and four-space continuation lines (``_log_section``)."""
    lines = [title]
    for name, value in entries:
        rendered = render_value(value)
        lines.append(f"  {name}={rendered[0]}")
        lines += [f"    {extra}" for extra in rendered[1:]]
    return lines


def kernel_call_header(api_name: str, when: datetime | None = None) -> str:
    return f"{(when or datetime.now()).strftime(KERNEL_API_TIME_FORMAT)} SGLang Kernel API Call: {api_name}"


def kernel_exception_line(api_name: str, exc_type: str, message: str, when: datetime | None = None) -> str:
    stamp = (when or datetime.now()).strftime(KERNEL_API_TIME_FORMAT)
    return f"{stamp} SGLang Kernel API Exception: {api_name} ({exc_type}: {message})"


def kernel_call_begin_lines(
    api_name: str,
    positional: Sequence[ValueDesc] | None = None,
    keyword: Sequence[tuple[str, ValueDesc]] | None = None,
    *,
    when: datetime | None = None,
    dumped_inputs_dir: str | None = None,
    dump_skipped: bool = False,
) -> list[str]:
    """Lines written before the call: separator, header, argument sections (level >= 3, non-empty
    ones only, ``self``/``cls`` already dropped), then the level-10 dump line."""
    lines = [KERNEL_API_SEPARATOR, kernel_call_header(api_name, when)]
    if positional:
        lines += render_section(
            "Positional input arguments:", [(f"arg[{i}]", v) for i, v in enumerate(positional)]
        )
    if keyword:
        lines += render_section("Keyword input arguments:", keyword)
    if dump_skipped:
        lines.append(f"Tensor dump skipped: {GRAPH_CAPTURE_NOTE}")
    elif dumped_inputs_dir is not None:
        lines.append(f"Dumped inputs to: {dumped_inputs_dir}")
    return lines


def kernel_call_end_lines(
    output: ValueDesc | None = None, *, dumped_outputs_dir: str | None = None
) -> list[str]:
    """Lines after a successful call: ``Dumped outputs to:`` (level 10) before ``Output:`` (level >= 3).

    ``output=None`` means no output section (level 1); a returned ``None`` is ``ArgDesc("repr", "None")``.
    """
    lines = [] if dumped_outputs_dir is None else [f"Dumped outputs to: {dumped_outputs_dir}"]
    if output is not None:
        lines += render_section("Output:", [("return", output)])
    return lines


# ---- parsing -------------------------------------------------------------------------------------

_KHEADER_RE = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] SGLang Kernel API Call: (.+?)\s*$")
_KEXC_RE = re.compile(
    r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] SGLang Kernel API Exception: (\S+) \((.*)$"
)
_ENTRY_RE = re.compile(r"^  (arg\[\d+\]|[A-Za-z_][\w.]*)=(.*)$")
_SEQ_ITEM_RE = re.compile(r"^  \[(\d+)\] (.*)$")
_MORE_RE = re.compile(r"^  \.\.\. \((\d+) more items\)$")
_ELIDED_RE = re.compile(r"^([\w.]+)\(\.\.\.\)$")
_OBJECT_RE = re.compile(r"^([\w.]+)\($")
_SECTIONS = {"Positional input arguments:": "pos", "Keyword input arguments:": "kw", "Output:": "out"}


def _parse_tensor(lines: list[str]) -> TensorDesc:
    attrs: dict[str, str] = {}
    for line in lines[1:]:
        m = _ENTRY_RE.match(line)
        if m:
            attrs[m.group(1)] = m.group(2)
    stats: TensorStats | None = None
    if "statistics" in attrs:
        stats = TensorStats(note=attrs["statistics"].strip("[]"))
    elif any(k in attrs for k in ("min", "max", "mean", "nan_count", "inf_count")):
        stats = TensorStats(
            min=float(attrs["min"]) if "min" in attrs else None,
            max=float(attrs["max"]) if "max" in attrs else None,
            mean=float(attrs["mean"]) if "mean" in attrs else None,
            nan_count=int(attrs.get("nan_count", 0)),
            inf_count=int(attrs.get("inf_count", 0)),
        )
    shape = ast.literal_eval(attrs["shape"]) if "shape" in attrs else ()
    return TensorDesc(
        shape=tuple(int(x) for x in shape),
        dtype=attrs.get("dtype", "?"),
        device=attrs.get("device", "?"),
        requires_grad=attrs.get("requires_grad") == "True",
        is_contiguous=attrs.get("is_contiguous", "True") == "True",
        stats=stats,
    )


def _split_dict_item(body: str) -> tuple[str, str]:
    start = 0
    candidates = []
    while (pos := body.find(": ", start)) >= 0:
        candidates.append(pos)
        start = pos + 1
    for pos in candidates:
        try:
            ast.literal_eval(body[:pos])
        except (ValueError, SyntaxError):
            continue
        return body[:pos], body[pos + 2 :]
    pos = candidates[0] if candidates else len(body)
    return body[:pos], body[pos + 2 :]


def _parse_container(lines: list[str], kind: str) -> ArgDesc:
    items: list[tuple[str, list[str]]] = []
    more = 0
    for line in lines[1:-1] if lines[-1] in (")", "]", "}") else lines[1:]:
        if line.startswith("      ") and items:
            items[-1][1].append(line[6:])
        elif m := _MORE_RE.match(line):
            more = int(m.group(1))
        elif kind != "dict" and (m := _SEQ_ITEM_RE.match(line)):
            items.append((m.group(1), [m.group(2)]))
        elif kind == "dict" and line.startswith("  "):
            label, first = _split_dict_item(line[2:])
            items.append((label, [first]))
    return ArgDesc(kind, items=tuple((label, parse_value(v)) for label, v in items), more=more)


def parse_value(lines: Sequence[str]) -> ValueDesc:
    """Inverse of :func:`render_value`; never raises (unreadable input becomes ``ArgDesc("raw")``)."""
    lines = list(lines)
    if not lines:
        return ArgDesc("raw")
    first = lines[0]
    try:
        if first == "Tensor(":
            return _parse_tensor(lines)
        if first in ("[", "(", "{") and len(lines) > 1:
            return _parse_container(lines, {"[": "list", "(": "tuple", "{": "dict"}[first])
        if m := _ELIDED_RE.match(first):
            return ArgDesc("elided", m.group(1))
        if (m := _OBJECT_RE.match(first)) and len(lines) > 1:
            attrs = []
            for line in lines[1:]:
                em = _ENTRY_RE.match(line)
                if em:
                    attrs.append((em.group(1), em.group(2)))
            return ArgDesc("object", m.group(1), attrs=tuple(attrs))
        if len(lines) == 1:
            return ArgDesc("repr", first)
    except (ValueError, SyntaxError, TypeError, KeyError):
        pass
    return ArgDesc("raw", "\n".join(lines))


def _walk_tensors(value: ValueDesc) -> Iterable[TensorDesc]:
    if isinstance(value, TensorDesc):
        yield value
    else:
        for _, item in value.items:
            yield from _walk_tensors(item)


@dataclass(frozen=True)
class KernelApiCall:
    """One parsed kernel API block."""

    api_name: str
    timestamp: datetime | None
    inputs: tuple[tuple[str, ValueDesc], ...] = ()
    """``("arg[0]", ...)`` for positional arguments, the keyword name for keyword ones."""
    output: ValueDesc | None = None
    exception: tuple[str, str] | None = None
    """``(type name, message)`` when the call raised."""
    dumped_inputs_dir: str | None = None
    dumped_outputs_dir: str | None = None
    dump_skipped: bool = False
    completed: bool = False
    """It returned (``Output:``), raised, or (level 1) another block followed it. A crash leaves the
    in-flight call, and the calls enclosing it, not completed."""
    depth: int = 0
    """Nesting: a call made inside another decorated call (seen at level >= 3) has depth 1, ..."""
    index: int = 0
    """Order in which the block started in the stream."""

    def _tensors(self, part: str) -> Iterable[TensorDesc]:
        if part in ("all", "inputs"):
            for _, value in self.inputs:
                yield from _walk_tensors(value)
        if part in ("all", "output") and self.output is not None:
            yield from _walk_tensors(self.output)

    def nan_total(self, part: str = "all") -> int:
        """Sum of ``nan_count`` over tensors in ``part``: ``"all"``, ``"inputs"`` or ``"output"``."""
        return sum(t.stats.nan_count for t in self._tensors(part) if t.stats is not None)

    def inf_total(self, part: str = "all") -> int:
        return sum(t.stats.inf_count for t in self._tensors(part) if t.stats is not None)


@dataclass
class _OpenCall:
    api_name: str
    timestamp: datetime | None
    index: int
    depth: int
    inputs: list[tuple[str, ValueDesc]] = field(default_factory=list)
    output: ValueDesc | None = None
    exception: tuple[str, str] | None = None
    dumped_inputs_dir: str | None = None
    dumped_outputs_dir: str | None = None
    dump_skipped: bool = False
    detailed: bool = False
    section: str | None = None
    entry: tuple[str, list[str]] | None = None

    def freeze(self, completed: bool) -> KernelApiCall:
        return KernelApiCall(
            self.api_name,
            self.timestamp,
            tuple(self.inputs),
            self.output,
            self.exception,
            self.dumped_inputs_dir,
            self.dumped_outputs_dir,
            self.dump_skipped,
            completed,
            self.depth,
            self.index,
        )


def _parse_stamp(text: str) -> datetime | None:
    try:
        return datetime.strptime(f"[{text}]", KERNEL_API_TIME_FORMAT)
    except ValueError:
        return None


class KernelApiLogParser:
    """Incremental parser of a kernel API log (a ``LOGDEST`` file or a stdout/stderr stream).

    :meth:`feed` takes one line at a time and returns the calls it completed, in completion order.
    Ordinary ``[MM-DD HH:MM:SS]`` log lines and other noise between blocks are ignored. At level >= 3
    a block that is still waiting for its ``Output:`` when a new block starts is an enclosing call
    (nesting is tracked); at level 1 nothing tells a nested call from the next one, so a new block
    completes the previous. :meth:`flush` ends the stream: calls still open come back with
    ``completed=False``, outermost first, so the last one is the call in flight at a crash.
    """

    def __init__(self) -> None:
        self._stack: list[_OpenCall] = []
        self._detailed = False
        self._count = 0
        self._pending_exc: list[str] | None = None
        self._out: list[KernelApiCall] = []

    @property
    def open_calls(self) -> tuple[KernelApiCall, ...]:
        """Snapshots of the calls started and not yet finished, outermost first."""
        return tuple(c.freeze(False) for c in self._stack)

    def feed(self, line: str) -> list[KernelApiCall]:
        text = strip_ansi(line).rstrip("\r\n")
        if self._pending_exc is not None:
            if text == KERNEL_API_SEPARATOR or _KHEADER_RE.match(text) or split_log_prefix(text)[0]:
                self._finish_exception()
            else:
                self._pending_exc.append(text)
                if text.endswith(")") or len(self._pending_exc) > 50:
                    self._finish_exception()
                return self._drain()
        self._feed(text)
        return self._drain()

    def flush(self) -> list[KernelApiCall]:
        if self._pending_exc is not None:
            self._finish_exception()
        if self._stack:
            self._end_value(self._stack[-1])
        while self._stack:
            # Outermost first: the last call returned is the innermost in-flight one.
            self._out.append(self._stack.pop(0).freeze(False))
        return self._drain()

    def _drain(self) -> list[KernelApiCall]:
        out, self._out = self._out, []
        return out

    def _feed(self, text: str) -> None:
        top = self._stack[-1] if self._stack else None
        if text == KERNEL_API_SEPARATOR:
            if top is not None:
                self._end_value(top)
                top.section = None
            return
        m = _KHEADER_RE.match(text)
        if m:
            if top is not None:
                self._end_value(top)
                top.section = None
                if top.output is None and not (self._detailed or top.detailed):
                    self._pop(completed=True)
            self._stack.append(_OpenCall(m.group(2), _parse_stamp(m.group(1)), self._count, len(self._stack)))
            self._count += 1
            return
        m = _KEXC_RE.match(text)
        if m:
            if top is not None:
                self._end_value(top)
            self._pending_exc = [m.group(2), m.group(3)]
            if text.endswith(")"):
                self._finish_exception()
            return
        if top is None:
            return
        section = _SECTIONS.get(text)
        if section is not None:
            self._end_value(top)
            top.section = section
            top.detailed = self._detailed = True
            return
        for prefix, attr in (
            ("Dumped inputs to: ", "dumped_inputs_dir"),
            ("Dumped outputs to: ", "dumped_outputs_dir"),
        ):
            if text.startswith(prefix):
                self._end_value(top)
                top.section = None
                setattr(top, attr, text[len(prefix) :])
                top.detailed = self._detailed = True
                return
        if text.startswith("Tensor dump skipped:"):
            self._end_value(top)
            top.dump_skipped = True
            return
        if top.section is None:
            return
        if top.entry is not None and text.startswith("    "):
            top.entry[1].append(text[4:])
            if text in ("    )", "    ]", "    }"):
                self._end_value(top)
            return
        m = _ENTRY_RE.match(text)
        if m:
            self._end_value(top)
            top.entry = (m.group(1), [m.group(2)])
            if not m.group(2).endswith(("(", "[", "{")):
                self._end_value(top)

    def _end_value(self, call: _OpenCall) -> None:
        if call.entry is None:
            return
        name, lines = call.entry
        call.entry = None
        value = parse_value(lines)
        if call.section == "out":
            call.output = value
            call.section = None
            self._pop(completed=True)
        elif call.section in ("pos", "kw"):
            call.inputs.append((name, value))

    def _pop(self, completed: bool) -> None:
        self._out.append(self._stack.pop().freeze(completed))

    def _finish_exception(self) -> None:
        assert self._pending_exc is not None
        name, *parts = self._pending_exc
        self._pending_exc = None
        body = "\n".join(parts)
        if body.endswith(")"):
            body = body[:-1]
        exc_type, _, message = body.partition(": ")
        for pos in range(len(self._stack) - 1, -1, -1):
            if self._stack[pos].api_name == name:
                while len(self._stack) > pos + 1:
                    self._pop(completed=True)
                self._end_value(self._stack[-1])
                if self._stack and self._stack[-1].api_name == name:
                    self._stack[-1].exception = (exc_type, message)
                    self._pop(completed=True)
                return


def parse_kernel_api_log(text: str) -> list[KernelApiCall]:
    """Parse a whole log; calls come back in the order they started (last = most recent)."""
    parser = KernelApiLogParser()
    calls: list[KernelApiCall] = []
    for line in text.splitlines():
        calls += parser.feed(line)
    calls += parser.flush()
    return sorted(calls, key=lambda c: c.index)


# ---- dump folders --------------------------------------------------------------------------------

DUMP_METADATA_FILE = "metadata.json"
_DUMP_NAME_RE = re.compile(r"^(\d{8}_\d{6}_\d{3})_pid(\d+)_(.+)_call(\d{4,})$")


def dump_timestamp(when: datetime | None = None) -> str:
    """``YYYYmmdd_HHMMSS_mmm``, the folder-name and metadata timestamp."""
    return (when or datetime.now()).strftime(DUMP_TIME_FORMAT)[:-3]


def dump_dir_name(timestamp: str | datetime, pid: int, api_name: str, call_n: int) -> str:
    """``<YYYYmmdd_HHMMSS_mmm>_pid<PID>_<api name, / < > replaced by _>_call<NNNN>``."""
    stamp = dump_timestamp(timestamp) if isinstance(timestamp, datetime) else timestamp
    safe = api_name.replace("/", "_").replace("<", "_").replace(">", "_")
    return f"{stamp}_pid{pid}_{safe}_call{call_n:04d}"


@dataclass(frozen=True)
class DumpMetadata:
    """``metadata.json`` of one level-10 dump folder (SGLang's field names and order)."""

    function_name: str
    timestamp: str
    process_id: int
    execution_status: str
    """``inputs_saved`` (written before the call; stays so after a hard crash), ``completed``, ``exception``."""
    input_metadata: dict[str, Any] = field(default_factory=dict)
    input_tensor_keys: tuple[str, ...] = ()
    output_metadata: dict[str, Any] = field(default_factory=dict)
    output_tensor_keys: tuple[str, ...] = ()
    exception: dict[str, str] | None = None
    """``{"type", "message"}`` when the status is ``exception``."""

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "function_name": self.function_name,
            "timestamp": self.timestamp,
            "process_id": self.process_id,
            "execution_status": self.execution_status,
            "input_metadata": self.input_metadata,
            "input_tensor_keys": list(self.input_tensor_keys),
            "output_metadata": self.output_metadata,
            "output_tensor_keys": list(self.output_tensor_keys),
        }
        if self.exception is not None:
            data["exception"] = self.exception
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> DumpMetadata:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("metadata.json is not an object")
        return cls(
            function_name=str(data.get("function_name", "")),
            timestamp=str(data.get("timestamp", "")),
            process_id=int(data.get("process_id", 0)),
            execution_status=str(data.get("execution_status", "unknown")),
            input_metadata=dict(data.get("input_metadata") or {}),
            input_tensor_keys=tuple(data.get("input_tensor_keys") or ()),
            output_metadata=dict(data.get("output_metadata") or {}),
            output_tensor_keys=tuple(data.get("output_tensor_keys") or ()),
            exception=data.get("exception"),
        )


def read_dump_metadata(folder: str | os.PathLike[str]) -> DumpMetadata:
    """Read ``<folder>/metadata.json``; raises ``OSError`` or ``ValueError``."""
    return DumpMetadata.from_json((Path(folder) / DUMP_METADATA_FILE).read_text(encoding="utf-8"))


@dataclass(frozen=True)
class DumpEntry:
    """One dump folder: what its name says, plus its metadata when readable."""

    path: str
    timestamp: str | None
    pid: int | None
    api_name: str | None
    """The name as it appears in the folder (``/ < >`` already replaced by ``_``)."""
    call_n: int | None
    metadata: DumpMetadata | None
    error: str | None = None
    """Why ``metadata`` is missing (``"missing"`` or the read/parse error): e.g. a half-written dump."""
    has_inputs: bool = False
    has_outputs: bool = False

    @property
    def status(self) -> str:
        return self.metadata.execution_status if self.metadata is not None else "unknown"


def scan_dump_root(root: str | os.PathLike[str]) -> list[DumpEntry]:
    """All dump folders under ``root``, oldest first; a missing root gives ``[]``."""
    base = Path(root)
    try:
        children = [p for p in base.iterdir() if p.is_dir()]
    except OSError:
        return []
    entries = []
    for child in children:
        m = _DUMP_NAME_RE.match(child.name)
        meta: DumpMetadata | None = None
        error: str | None = None
        if not (child / DUMP_METADATA_FILE).exists():
            error = "missing"
        else:
            try:
                meta = read_dump_metadata(child)
            except (OSError, ValueError, TypeError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        entries.append(
            DumpEntry(
                path=str(child),
                timestamp=m.group(1) if m else (meta.timestamp if meta else None),
                pid=int(m.group(2)) if m else (meta.process_id if meta else None),
                api_name=m.group(3) if m else None,
                call_n=int(m.group(4)) if m else None,
                metadata=meta,
                error=error,
                has_inputs=(child / "inputs.pt").exists(),
                has_outputs=(child / "outputs.pt").exists(),
            )
        )
    entries.sort(key=lambda e: (e.timestamp or "", e.pid or 0, e.call_n or 0, e.path))
    return entries

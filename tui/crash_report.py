"""The crash report: its record (what :mod:`tui.crash` decided) and its text (the headline and the full
report, for the crash view and ``crash-report``), with its JSON and files.

Why apart from :mod:`tui.crash`: that module decides, this one holds and words the decisions, with the
caveats the evidence requires ("level 1 cannot tell whether it finished", "between kernel calls").
Record and words live together so that neither imports the other back.
Imports neither textual nor rich.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backend.atomic_files import atomic_write_bytes
from tui.crash_calls import BETWEEN_CALLS, IN_FLIGHT, LAST_LOGGED, LEVEL1_CAVEAT, RAISED, finite_or_text
from tui.crash_workers import worker_line


@dataclass(frozen=True)
class ArgInfo:
    """One argument of the in-flight call, flattened for display."""

    name: str
    kind: str
    """``tensor`` or the :class:`~backend.records.ArgDesc` kind (``repr``, ``list``, ``object`` ...)."""
    text: str
    """One-line summary, e.g. ``Tensor(2, 4096, 64) torch.float16 cuda:0 nan=3``."""
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    device: str | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    nan_count: int | None = None
    inf_count: int | None = None
    stats_note: str | None = None


@dataclass(frozen=True)
class InFlightCall:
    """The kernel API call that started and did not finish (or, from a dump, raised)."""

    api_name: str
    source: str
    """``log``, ``dump`` or ``log+dump``."""
    stream: str | None = None
    timestamp: str | None = None
    depth: int = 0
    enclosing: tuple[str, ...] = ()
    """Names of the calls it was nested in, outermost first."""
    args: tuple[ArgInfo, ...] = ()
    dump_path: str | None = None
    dump_status: str | None = None
    dump_exception: dict[str, str] | None = None
    pid: int | None = None
    exception: tuple[str, str] | None = None
    """``(type, message)`` when the log shows the call raised."""


@dataclass
class CrashReport:
    """Everything the crash view and ``sgl-console crash-report`` show.

    Scoped to the process and request that died: ``request`` is the last request the logs show
    (label, id when logged, stage in flight, denoising step), ``fatal_errors`` the errors nothing
    ran after, ``handled_errors`` those an earlier request survived (history, never the headline).
    ``call_status`` says how sure the call is: ``in_flight`` (level >= 3 block without ``Output:``,
    or a dump still ``inputs_saved``), ``last_logged`` (level 1: it may have returned) or
    ``between_calls`` (level >= 3, every call returned).
    """

    how: str
    abnormal: bool
    exit: dict[str, Any] | None = None
    stalled_for: float | None = None
    cuda_errors: list[str] = field(default_factory=list)
    """CUDA / accelerator errors (judged by their text) of the request that died."""
    in_flight: InFlightCall | None = None
    call_status: str | None = None
    last_call: InFlightCall | None = None
    """The last call logged when it is not known to be in flight (level 1, or between calls)."""
    other_pending_dumps: list[dict[str, Any]] = field(default_factory=list)
    last_exception_call: dict[str, str] | None = None
    """The kernel exception nothing ran after (a survived one is in ``handled_errors``)."""
    request: dict[str, Any] | None = None
    fatal_errors: list[dict[str, Any]] = field(default_factory=list)
    handled_errors: list[dict[str, Any]] = field(default_factory=list)
    first_non_finite: dict[str, Any] | None = None
    process: dict[str, Any] | None = None
    """The process that died: ``pid``, ``source`` (its kernel API log), ``why`` (how it was told)."""
    processes: list[dict[str, Any]] = field(default_factory=list)
    workers: list[dict[str, Any]] = field(default_factory=list)
    """The backend's ``--num-workers`` workers (``tui.crash_workers``): rank, pid, device, how each ended."""
    api_counts: dict[str, int] = field(default_factory=dict)
    kernel_calls_seen: int = 0
    tail: list[str] = field(default_factory=list)
    command: str | None = None
    run_dir: str | None = None
    sources: list[str] = field(default_factory=list)
    generated_at: float = field(default_factory=time.time)
    gpu_memory: dict[str, Any] | None = None
    """The last NVML sample and the peaks (``tui.gpu.GpuMemoryRecord.to_dict()``); None where no
    GPU was sampled (no NVIDIA GPU, or a report built from files)."""

    @property
    def out_of_memory(self) -> bool:
        """Our backend's exit code 8, or an out-of-memory error in the output (SGLang's too)."""
        if self.exit_code == 8:
            return True
        return any("out of memory" in line.lower() for line in (*self.cuda_errors, *self.tail))

    @property
    def signal_name(self) -> str | None:
        return (self.exit or {}).get("signal_name")

    @property
    def exit_code(self) -> int | None:
        return (self.exit or {}).get("exit_code")

    def headline(self) -> str:
        """One line: how it died, where (request, stage, step), the call, and the fatal error."""
        return headline(self)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["headline"] = self.headline()
        return finite_or_text(data)

    def to_json(self) -> str:
        """Strict JSON: NaN/Inf are the strings ``nan``/``inf`` (``allow_nan=False`` guards it)."""
        return json.dumps(self.to_dict(), indent=2, default=str, allow_nan=False)

    def to_text(self) -> str:
        return render_text(self)

    def write(self, directory: str | os.PathLike[str]) -> tuple[str, str]:
        """Write ``crash_report.txt`` and ``crash_report.json`` into ``directory``; returns both paths."""
        d = Path(directory)
        txt, js = d / "crash_report.txt", d / "crash_report.json"
        atomic_write_bytes(txt, self.to_text().encode("utf-8"))  # private: a report quotes the run's output
        atomic_write_bytes(js, self.to_json().encode("utf-8"))
        return str(txt), str(js)


def _where(report: CrashReport) -> str | None:
    req = report.request
    if not req:
        return None
    text = req["label"] + (f" ({req['request_id']})" if req.get("request_id") else "")
    if req.get("stage"):
        text += f", {req['stage']} {req['stage_state'] or ''}".rstrip()
    if req.get("step_text"):
        text += f", {req['step_text']}"
    return text


def call_phrase(report: CrashReport) -> str | None:
    """How sure the report is about the call, in words."""
    if report.call_status == IN_FLIGHT and report.in_flight is not None:
        return f"in flight: {report.in_flight.api_name}"
    if report.call_status == RAISED and (call := report.in_flight or report.last_call) is not None:
        return f"raised in: {call.api_name}"
    if report.call_status == LAST_LOGGED and report.last_call is not None:
        return f"{LEVEL1_CAVEAT}: {report.last_call.api_name}"
    if report.call_status == BETWEEN_CALLS and report.last_call is not None and report.abnormal:
        return f"no kernel API call in flight (died between calls; last returned: {report.last_call.api_name})"
    return None


def fatal_error(report: CrashReport) -> str | None:
    """The error to headline: a CUDA one of the dying request first, then its last error, then the
    fatal kernel exception, then a dump's exception. Never a survived one."""
    if report.cuda_errors:
        return report.cuda_errors[-1]
    if report.fatal_errors:
        return str(report.fatal_errors[-1]["text"])
    if report.last_exception_call:
        e = report.last_exception_call
        return f"{e['type']}: {e['message']}"
    call = report.in_flight
    if call is not None and call.dump_exception:
        return f"{call.dump_exception.get('type')}: {call.dump_exception.get('message')}"
    return None


def headline(report: CrashReport) -> str:
    parts = [report.how]
    process = report.process or {}
    if process.get("worker") is not None:
        parts.append(f"worker {process['worker']} (pid {process.get('pid')}, {process.get('device') or '?'})")
    elif process.get("pid") is not None and len(report.processes) > 1:
        parts.append(f"pid {process['pid']}")
    for piece in (_where(report), call_phrase(report), fatal_error(report)):
        if piece:
            parts.append(piece)
    return "; ".join(parts)


def _call_lines(title: str, call: InFlightCall) -> list[str]:
    where = f" [{call.stream}]" if call.stream else ""
    out = [f"{title}: {call.api_name} (from {call.source}{where})"]
    if call.timestamp:
        out.append(f"  started: {call.timestamp}")
    if call.pid is not None:
        out.append(f"  pid: {call.pid}")
    if call.enclosing:
        out.append(f"  inside: {' > '.join(call.enclosing)}")
    if call.exception:
        out.append(f"  raised: {call.exception[0]}: {call.exception[1]}")
    if call.args:
        out.append("  arguments:")
        out += [f"    {a.name}: {a.text}" for a in call.args]
    if call.dump_path:
        out.append(f"  dump: {call.dump_path} (status {call.dump_status})")
    if call.dump_exception:
        out.append(f"  dump exception: {call.dump_exception.get('type')}: {call.dump_exception.get('message')}")
    return out


def _non_finite_line(first: dict[str, Any]) -> str:
    counts = ", ".join(f"{k.split('_')[0]}={first[k]}" for k in ("nan_count", "inf_count") if first.get(k))
    where = f"{first['part']} {first['argument']}" if first["part"] == "input" else "output"
    text = f"First NaN/Inf: {first['api_name']} (call #{first['call_number']}) {where}: {counts}"
    if first.get("inputs_clean"):
        text += " (its inputs were finite)"
    if first.get("timestamp"):
        text += f" at {first['timestamp']}"
    if first.get("pid") is not None:
        text += f", pid {first['pid']}"
    text += f"; request: {first.get('request') or 'not known'}"
    if first.get("stage"):
        text += f", {first['stage']}"
    if first.get("step") is not None:
        text += f", denoising_step_{first['step']}"
    else:
        text += f"; step: not known ({first.get('step_note')})"
    return text


def render_text(report: CrashReport) -> str:
    out = ["CRASH REPORT" if report.abnormal else "RUN REPORT", f"How: {report.how}"]
    if report.exit is not None:
        out.append(f"Exit: code {report.exit.get('exit_code')}"
                   + (f", signal {report.exit.get('signal_name')}" if report.exit.get("signal") else ""))
    if report.command:
        out.append(f"Command: {report.command}")
    if report.run_dir:
        out.append(f"Run dir: {report.run_dir}")
    if report.process and (report.process.get("pid") is not None or len(report.processes) > 1):
        pid = report.process.get("pid")
        who = f"pid {pid}" if pid is not None else "pid not logged"
        if report.process.get("worker") is not None:
            who = f"worker {report.process['worker']}, {who}, on {report.process.get('device') or 'a device not logged'}"
        out.append(f"Process: {who} ({report.process['why']}; {report.process['source']})")
    if len(report.processes) > 1:
        for p in report.processes:
            ends = {IN_FLIGHT: "ends inside a call", BETWEEN_CALLS: "ends after a returned call",
                    LAST_LOGGED: "level 1: ends with a header", RAISED: "ends with a call that raised"}[p["ends"]]
            out.append(f"  pid {p['pid']}: {p['calls']} calls, {ends} ({p['last_call']}) [{p['source']}]")
    if report.workers:
        dead = report.process.get("worker") if report.process else None
        out.append("Workers:")
        out += [worker_line(w, dead) for w in report.workers]
    req = report.request
    if req:
        out.append(f"Request: {req['label']}" + (f", id {req['request_id']}" if req.get("request_id")
                                                  else ", id not logged") + f" ({req['outcome']})")
        stage = req.get("stage")
        out.append(f"  stage: {stage} ({req['stage_state']})" if stage else "  stage: none open")
        out.append(f"  step: {req['step_text']}" if req.get("step_text") else "  step: not known")
    fatal = fatal_error(report)
    if fatal:
        out.append(f"Error: {fatal}")
    if report.cuda_errors:
        out.append("CUDA errors (this request):")
        out += [f"  {e}" for e in report.cuda_errors[-5:]]
    if report.call_status == IN_FLIGHT and report.in_flight is not None:
        out += _call_lines("Kernel API call in flight", report.in_flight)
    elif report.call_status == RAISED and (raised := report.in_flight or report.last_call) is not None:
        out += _call_lines("Kernel API call that raised", raised)
    elif report.call_status == LAST_LOGGED and report.last_call is not None:
        out += _call_lines(f"Kernel API {LEVEL1_CAVEAT}", report.last_call)
        out.append("  re-run at level 3 to see whether it returned")
    elif report.call_status == BETWEEN_CALLS and report.last_call is not None:
        out.append("Kernel API call in flight: none (every logged call returned"
                   + ("; the process died outside any kernel call)" if report.abnormal else ")"))
        out += _call_lines("  last call returned", report.last_call)
    else:
        out.append("Kernel API call in flight: none found"
                   + ("" if report.kernel_calls_seen else " (no kernel API log; re-run with level 3/5/10)"))
    shown = report.in_flight or (report.last_call if report.call_status == RAISED else None)
    if report.last_exception_call and (shown is None or shown.api_name != report.last_exception_call["api_name"]):
        e = report.last_exception_call
        out.append(f"Kernel API exception: {e['api_name']} ({e['type']}: {e['message']})")
    if report.first_non_finite:
        out.append(_non_finite_line(report.first_non_finite))
    if report.handled_errors:
        out.append("Earlier errors the run survived (history, not the cause):")
        out += [f"  {e['request'] or e['kind']}: {e['text']}"[:220] for e in report.handled_errors[:8]]
    if report.other_pending_dumps:
        out.append("Other dumps not completed:")
        out += [f"  {d['path']} ({d['status']})" for d in report.other_pending_dumps[-5:]]
    if report.api_counts:
        top = sorted(report.api_counts.items(), key=lambda kv: -kv[1])[:8]
        out.append("Kernel API calls: " + ", ".join(f"{k} x{v}" for k, v in top))
    if report.gpu_memory:
        from tui.gpu import report_lines

        out += report_lines(report.gpu_memory, oom=report.out_of_memory)
    if report.tail:
        out.append(f"Last {len(report.tail)} output lines:")
        out += [f"  | {line}" for line in report.tail]
    return "\n".join(out) + "\n"


__all__ = ["call_phrase", "fatal_error", "headline", "render_text"]

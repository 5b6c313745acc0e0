"""Crash analysis: how the child died, which kernel API call was in flight, its arguments,
its dump folder, and the last output lines.

Inputs (all optional, so the same analysis serves a live run and files on disk, real
SGLang's included): the exit status (or a stall), the output tail, CUDA error lines, the
kernel API calls parsed by ``backend.records.KernelApiLogParser`` (a call left
``completed=False`` when its stream ended is in flight), and dump folders scanned with
``backend.records.scan_dump_root`` whose status is still ``inputs_saved`` (or ``exception``).
This module parses no log shape itself.

Imports neither textual nor rich.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backend import envs
from backend.records import (
    ArgDesc,
    DumpEntry,
    KernelApiCall,
    TensorDesc,
    ValueDesc,
    render_value,
    scan_dump_root,
)
from tui.lines import LineSplitter
from tui.router import STDERR, STDOUT, Router
from tui.supervisor import ExitStatus

TAIL_LINES = 50
RERUN_LEVELS = (3, 5, 10)
PENDING_STATUSES = ("inputs_saved", "exception")


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
    """Everything the crash view and ``sgl-console crash-report`` show."""

    how: str
    """E.g. ``killed by SIGSEGV (segmentation fault)``, ``stalled: ...``, ``exited with code 3``."""
    abnormal: bool
    exit: dict[str, Any] | None = None
    stalled_for: float | None = None
    cuda_errors: list[str] = field(default_factory=list)
    in_flight: InFlightCall | None = None
    other_pending_dumps: list[dict[str, Any]] = field(default_factory=list)
    last_exception_call: dict[str, str] | None = None
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
        return (self.exit or {}).get("signal_name")  # type: ignore[return-value]

    @property
    def exit_code(self) -> int | None:
        return (self.exit or {}).get("exit_code")  # type: ignore[return-value]

    def headline(self) -> str:
        """One line: how it died and the call in flight."""
        text = self.how
        if self.in_flight is not None:
            text += f"; in flight: {self.in_flight.api_name}"
        if self.cuda_errors:
            text += f"; {self.cuda_errors[-1]}"
        return text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["headline"] = self.headline()
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def to_text(self) -> str:
        out = ["CRASH REPORT" if self.abnormal else "RUN REPORT", f"How: {self.how}"]
        if self.exit is not None:
            out.append(f"Exit: code {self.exit.get('exit_code')}"
                       + (f", signal {self.exit.get('signal_name')}" if self.exit.get("signal") else ""))  # fmt: skip
        if self.command:
            out.append(f"Command: {self.command}")
        if self.run_dir:
            out.append(f"Run dir: {self.run_dir}")
        if self.cuda_errors:
            out.append("CUDA errors:")
            out += [f"  {e}" for e in self.cuda_errors[-5:]]
        call = self.in_flight
        if call is None:
            out.append("Kernel API call in flight: none found"
                       + ("" if self.kernel_calls_seen else " (no kernel API log; re-run with level 3/5/10)"))  # fmt: skip
        else:
            where = f" [{call.stream}]" if call.stream else ""
            out.append(f"Kernel API call in flight: {call.api_name} (from {call.source}{where})")
            if call.timestamp:
                out.append(f"  started: {call.timestamp}")
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
        if self.last_exception_call and (call is None or call.api_name != self.last_exception_call.get("api_name")):
            e = self.last_exception_call
            out.append(f"Last kernel API exception: {e['api_name']} ({e['type']}: {e['message']})")
        if self.other_pending_dumps:
            out.append("Other dumps not completed:")
            out += [f"  {d['path']} ({d['status']})" for d in self.other_pending_dumps[-5:]]
        if self.api_counts:
            top = sorted(self.api_counts.items(), key=lambda kv: -kv[1])[:8]
            out.append("Kernel API calls: " + ", ".join(f"{k} x{v}" for k, v in top))
        if self.gpu_memory:
            from tui.gpu import report_lines

            out += report_lines(self.gpu_memory, oom=self.out_of_memory)
        if self.tail:
            out.append(f"Last {len(self.tail)} output lines:")
            out += [f"  | {line}" for line in self.tail]
        return "\n".join(out) + "\n"

    def write(self, directory: str | os.PathLike[str]) -> tuple[str, str]:
        """Write ``crash_report.txt`` and ``crash_report.json`` into ``directory``; returns both paths."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        txt, js = d / "crash_report.txt", d / "crash_report.json"
        txt.write_text(self.to_text(), encoding="utf-8")
        js.write_text(self.to_json(), encoding="utf-8")
        return str(txt), str(js)


# ---------------------------------------------------------------------------------------
# Pieces
# ---------------------------------------------------------------------------------------


def is_abnormal(exit: ExitStatus | None, stalled_for: float | None = None) -> bool:
    """Signal, non-zero exit, or a stall."""
    return stalled_for is not None or (exit is not None and not exit.ok)


def describe(exit: ExitStatus | None, stalled_for: float | None = None) -> str:
    if stalled_for is not None:
        text = f"stalled: no output and no CPU for {stalled_for:.1f} s"
        return text + (f", then {exit.description}" if exit is not None else "")
    if exit is None:
        return "unknown (no exit status: analysing logs only)"
    return exit.description


def arg_info(name: str, value: ValueDesc) -> ArgInfo:
    """Summarise one parsed argument value."""
    if isinstance(value, TensorDesc):
        st = value.stats
        text = f"Tensor{tuple(value.shape)} {value.dtype} {value.device}"
        if st is not None and st.note is None:
            text += f" min={st.min} max={st.max} mean={st.mean} nan={st.nan_count} inf={st.inf_count}"
        elif st is not None:
            text += f" [{st.note}]"
        return ArgInfo(name, "tensor", text, tuple(value.shape), value.dtype, value.device,
                       st.min if st else None, st.max if st else None, st.mean if st else None,
                       st.nan_count if st else None, st.inf_count if st else None,
                       st.note if st else None)  # fmt: skip
    assert isinstance(value, ArgDesc)
    lines = render_value(value)
    text = lines[0] if len(lines) == 1 else " ".join(x.strip() for x in lines)
    if len(text) > 200:
        text = text[:197] + "..."
    return ArgInfo(name, value.kind, text)


def _stamp(call: KernelApiCall) -> str:
    return call.timestamp.strftime("%Y-%m-%d %H:%M:%S") if call.timestamp else ""


def find_in_flight(calls: Sequence[tuple[str, KernelApiCall]]) -> tuple[str, KernelApiCall, list[str]] | None:
    """The innermost, most recent call with ``completed=False``, its stream and enclosing call names."""
    pending = [(s, c) for s, c in calls if not c.completed]
    if not pending:
        return None
    stream, call = max(pending, key=lambda sc: (_stamp(sc[1]), sc[1].depth, sc[1].index))
    enclosing = sorted((c for s, c in pending if s == stream and c.depth < call.depth and c.index < call.index),
                       key=lambda c: c.depth)  # fmt: skip
    return stream, call, [c.api_name for c in enclosing]


def pending_dumps(roots: Sequence[str]) -> list[DumpEntry]:
    """Dump folders under ``roots`` whose status is ``inputs_saved`` or ``exception``, oldest first."""
    out: list[DumpEntry] = []
    for root in roots:
        out += [e for e in scan_dump_root(root) if e.status in PENDING_STATUSES]
    out.sort(key=lambda e: (e.timestamp or "", e.pid or 0, e.call_n or 0))
    return out


def _same_path(a: str | None, b: str | None) -> bool:
    """Same folder, or the same dump folder name (a log read on another machine, or a moved root)."""
    if not a or not b:
        return False
    na, nb = os.path.normpath(os.path.abspath(a)), os.path.normpath(os.path.abspath(b))
    return na == nb or os.path.basename(na) == os.path.basename(nb)


def _dump_args(entry: DumpEntry) -> tuple[ArgInfo, ...]:
    meta = entry.metadata
    if meta is None:
        return ()
    args = [ArgInfo(k, "tensor", "tensor saved in inputs.pt") for k in meta.input_tensor_keys]
    for k, v in meta.input_metadata.items():
        text = json.dumps(v, default=str)
        args.append(ArgInfo(k, "metadata", text if len(text) <= 200 else text[:197] + "..."))
    return tuple(args)


# ---------------------------------------------------------------------------------------
# Analysis
# ---------------------------------------------------------------------------------------


def analyze(
    *,
    exit: ExitStatus | None = None,
    stalled_for: float | None = None,
    tail: Sequence[str] = (),
    cuda_errors: Sequence[str] = (),
    calls: Sequence[tuple[str, KernelApiCall]] = (),
    dump_roots: Sequence[str] = (),
    api_counts: Mapping[str, int] | None = None,
    command: str | None = None,
    run_dir: str | None = None,
    sources: Sequence[str] = (),
) -> CrashReport:
    """Build a :class:`CrashReport` from what is known.

    Args:
        exit: the exit status (None when analysing files only).
        stalled_for: seconds of stall when the run was declared stalled.
        tail: the last output lines (ANSI-free); the last 50 are kept.
        cuda_errors: CUDA error lines seen on the output.
        calls: ``(stream, call)`` kernel API calls; calls still open at the end must be included with
            ``completed=False`` (``KernelApiLogParser.flush`` / ``Router.end_stream`` do that).
        dump_roots: kernel API dump roots to scan for folders still ``inputs_saved`` / ``exception``.
    """
    found = find_in_flight(calls)
    dumps = pending_dumps(dump_roots)
    in_flight: InFlightCall | None = None
    used_dump: DumpEntry | None = None
    if found is not None:
        stream, call, enclosing = found
        match = next((d for d in reversed(dumps) if _same_path(d.path, call.dumped_inputs_dir)), None)
        if match is None and call.dumped_inputs_dir is None:
            # Level < 10 log but dumps present: the newest pending dump of the same API.
            match = next((d for d in reversed(dumps) if d.metadata is not None
                          and d.metadata.function_name == call.api_name), None)  # fmt: skip
        used_dump = match
        in_flight = InFlightCall(
            call.api_name, "log+dump" if match else "log", stream, _stamp(call) or None, call.depth,
            tuple(enclosing), tuple(arg_info(n, v) for n, v in call.inputs),
            match.path if match else call.dumped_inputs_dir,
            match.status if match else None,
            match.metadata.exception if match and match.metadata else None,
            match.pid if match else None, call.exception,
        )  # fmt: skip
    elif dumps:
        # No log (or level 0 on the stream): the newest hard-crash dump wins over an exception one.
        hard = [d for d in dumps if d.status == "inputs_saved"]
        used_dump = (hard or dumps)[-1]
        meta = used_dump.metadata
        assert meta is not None
        in_flight = InFlightCall(meta.function_name, "dump", None, meta.timestamp, 0, (), _dump_args(used_dump),
                                 used_dump.path, used_dump.status, meta.exception, meta.process_id)  # fmt: skip
    last_exc = None
    for _, call in reversed(calls):
        if call.exception is not None:
            last_exc = {"api_name": call.api_name, "type": call.exception[0], "message": call.exception[1]}
            break
    counts = dict(api_counts) if api_counts is not None else {}
    if api_counts is None:
        for _, call in calls:
            counts[call.api_name] = counts.get(call.api_name, 0) + 1
    return CrashReport(
        how=describe(exit, stalled_for),
        abnormal=is_abnormal(exit, stalled_for),
        exit=exit.to_dict() if exit is not None else None,
        stalled_for=stalled_for,
        cuda_errors=list(dict.fromkeys(cuda_errors)),
        in_flight=in_flight,
        other_pending_dumps=[{"path": d.path, "status": d.status, "api_name": d.metadata.function_name
                              if d.metadata else d.api_name} for d in dumps if d is not used_dump],
        last_exception_call=last_exc,
        api_counts=counts,
        kernel_calls_seen=len(calls),
        tail=list(tail)[-TAIL_LINES:],
        command=command,
        run_dir=run_dir,
        sources=list(sources),
    )  # fmt: skip


def analyze_router(
    router: Router,
    exit: ExitStatus | None = None,
    *,
    stalled_for: float | None = None,
    dump_roots: Sequence[str] = (),
    command: str | None = None,
    run_dir: str | None = None,
) -> CrashReport:
    """The analysis of a live (or just ended) run from the router's state.

    Streams that ended were flushed by the supervisor / tailer (their open calls are among the
    recent calls with ``completed=False``); calls still open on live streams (a stall) are added.
    """
    calls = router.recent_kernel_calls()
    for stream, open_calls in router.open_kernel_calls().items():
        calls += [(stream, c) for c in open_calls]
    tail = router.tail(TAIL_LINES, output_only=True) or router.tail(TAIL_LINES)
    return analyze(
        exit=exit, stalled_for=stalled_for, tail=[ln.plain for ln in tail],
        cuda_errors=[ln.plain.strip() for ln in router.cuda_error_lines()], calls=calls, dump_roots=dump_roots,
        api_counts=router.stats()["api_counts"], command=command, run_dir=run_dir,
    )  # fmt: skip


def feed_file(router: Router, path: str, stream: str | None = None, max_line_bytes: int = 16 * 1024) -> int:
    """Feed a whole file into ``router`` as one stream (split like the live pipes) and end the stream.

    ``stream`` defaults to ``file:<path>``; pass ``stdout`` / ``stderr`` for captured console output.
    Returns the number of lines.
    """
    from tui.router import file_stream

    name = stream or file_stream(path)
    splitter = LineSplitter(max_line_bytes)
    count = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            lines = splitter.feed(chunk)
            count += len(lines)
            router.feed(name, lines)
    tail = splitter.flush()
    router.feed(name, tail)
    router.end_stream(name)
    return count + len(tail)


def analyze_files(
    logs: Sequence[str],
    dump_dirs: Sequence[str] = (),
    exit: ExitStatus | None = None,
) -> CrashReport:
    """The same analysis for logs and dumps on disk (ours or a real SGLang's).

    Each log is read whole: a console capture (stdout/stderr), a kernel API ``LOGDEST`` file or
    ``performance.log``; blocks left open at the end of a file are in flight.  A dump dir may be
    the dump root or one call folder (its parent is scanned then).
    """
    router = Router(max_pending=10, tail_size=TAIL_LINES)
    for path in logs:
        feed_file(router, path)
    roots = []
    for d in dump_dirs:
        roots.append(os.path.dirname(os.path.abspath(d)) if os.path.isfile(os.path.join(d, "metadata.json")) else d)
    report = analyze_router(router, exit, dump_roots=roots)
    report.sources = [*logs, *dump_dirs]
    return report


def rerun_env(session_env: Mapping[str, str], level: int) -> dict[str, str]:
    """A copy of ``session_env`` with ``SGLANG_KERNEL_API_LOGLEVEL`` raised to ``level`` (3, 5 or 10).

    Never lowers a higher level already set.  Raises ``ValueError`` for another level.
    """
    if level not in RERUN_LEVELS:
        raise ValueError(f"kernel API re-run level must be one of {RERUN_LEVELS}, not {level}")
    env = dict(session_env)
    try:
        current = int(env.get(envs.KERNEL_API_LOGLEVEL.name, "0") or 0)
    except ValueError:
        current = 0
    env[envs.KERNEL_API_LOGLEVEL.name] = str(max(level, current))
    return env


__all__ = [
    "ArgInfo", "CrashReport", "InFlightCall", "RERUN_LEVELS", "STDERR", "STDOUT", "analyze", "analyze_files",
    "analyze_router", "arg_info", "describe", "feed_file", "find_in_flight", "is_abnormal", "pending_dumps",
    "rerun_env",
]  # fmt: skip

"""Crash analysis: how the child died, in which request, stage and denoising step, which kernel
API call was in flight (or only the last one logged, at level 1), its arguments, its dump folder,
the first NaN/Inf, the errors that killed it (apart from those an earlier request survived), and
the last output lines.

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
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from backend import envs
from backend.records import (
    ArgDesc,
    DumpEntry,
    KernelApiCall,
    ProgressRecord,
    TensorDesc,
    ValueDesc,
    render_value,
    scan_dump_root,
    split_log_prefix,
)
from tui.crash_calls import (
    IN_FLIGHT,
    RAISED,
    KernelSource,
    first_non_finite,
    kernel_source,
)
from tui.crash_evidence import (
    attribute_first_non_finite,
    call_stamp,
    dump_history,
    group_sources,
    pick_dead,
    request_summary,
    scoped_errors,
)
from tui.crash_report import ArgInfo, CrashReport, InFlightCall
from tui.crash_scope import (
    SourceLine,
    Timeline,
    build_timeline,
    merge_by_time,
    read_source,
    stamp_lines,
)
from tui.crash_workers import failed, name_process, workers_from_lines
from tui.routed import STDERR, STDOUT, Line
from tui.router import Router
from tui.supervisor import ExitStatus

TAIL_LINES = 50
LIVE_LOG_BYTES = 8 << 20
"""How much of the end of a live run's stdout/stderr logs the crash view reads (it must open fast)."""
RERUN_LEVELS = (3, 5, 10)
PENDING_STATUSES = ("inputs_saved", "exception")


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
                       st.note if st else None)
    assert isinstance(value, ArgDesc)
    lines = render_value(value)
    text = lines[0] if len(lines) == 1 else " ".join(x.strip() for x in lines)
    if len(text) > 200:
        text = text[:197] + "..."
    return ArgInfo(name, value.kind, text)


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


def _call_info(stream: str, call: KernelApiCall, enclosing: Sequence[str], dumps: Sequence[DumpEntry],
               pid: int | None) -> tuple[InFlightCall, DumpEntry | None]:
    match = next((d for d in reversed(dumps) if _same_path(d.path, call.dumped_inputs_dir)), None)
    if match is None and call.dumped_inputs_dir is None:
        # Level < 10 log but dumps present: the newest pending dump of the same API.
        match = next((d for d in reversed(dumps) if d.metadata is not None
                      and d.metadata.function_name == call.api_name), None)
    info = InFlightCall(
        call.api_name, "log+dump" if match else "log", stream, call_stamp(call) or None, call.depth,
        tuple(enclosing), tuple(arg_info(n, v) for n, v in call.inputs),
        match.path if match else call.dumped_inputs_dir, match.status if match else None,
        match.metadata.exception if match and match.metadata else None,
        match.pid if match else pid, call.exception,
    )
    return info, match


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
    timeline: Timeline | None = None,
    kernel_sources: Sequence[KernelSource] | None = None,
    workers: Sequence[Mapping[str, Any]] = (),
) -> CrashReport:
    """Build a :class:`CrashReport` from what is known.

    Args:
        exit: the exit status (None when analysing files only).
        stalled_for: seconds of stall when the run was declared stalled.
        tail: the last output lines (ANSI-free); the last 50 are kept.
        cuda_errors: CUDA error lines seen on the output (used only without a ``timeline``).
        calls: ``(stream, call)`` kernel API calls, open ones with ``completed=False``; ignored when
            ``kernel_sources`` is given.
        dump_roots: kernel API dump roots to scan for folders still ``inputs_saved`` / ``exception``.
        timeline: requests, stages, steps and scoped errors (:mod:`tui.crash_scope`).
        kernel_sources: kernel API blocks per process (:mod:`tui.crash_calls`).
        workers: the backend's workers (``Router.workers()``): the process that died is named by rank
            and device, and the others' finished work is reported as kept (:mod:`tui.crash_workers`).
    """
    abnormal = is_abnormal(exit, stalled_for)
    ksources = list(kernel_sources) if kernel_sources is not None else group_sources(calls)
    dumps = pending_dumps(dump_roots)
    all_dumps = [e for root in dump_roots for e in scan_dump_root(root)]
    dead = pick_dead(ksources, dumps, failed_pids={w["pid"] for w in workers if failed(w) and w.get("pid")})
    in_flight = last_call = None
    call_status: str | None = None
    used_dump: DumpEntry | None = None
    if dead is not None:
        status, call, enclosing = dead.verdict()
        if call is not None:
            info, used_dump = _call_info(dead.source, call, enclosing, dumps, dead.pid)
            if status == IN_FLIGHT or (used_dump is not None and used_dump.status == "inputs_saved"
                                       and used_dump.path == info.dump_path):
                in_flight, call_status = info, IN_FLIGHT
            else:
                last_call, call_status = info, status
                if status != RAISED:
                    used_dump = None
    elif dumps:
        # No kernel log: the newest hard-crash dump wins over an exception one.
        hard = [d for d in dumps if d.status == "inputs_saved"]
        used_dump = (hard or dumps)[-1]
        meta = used_dump.metadata
        assert meta is not None
        in_flight = InFlightCall(meta.function_name, "dump", None, meta.timestamp, 0, (), _dump_args(used_dump),
                                 used_dump.path, used_dump.status, meta.exception, meta.process_id)
        call_status = IN_FLIGHT if used_dump.status == "inputs_saved" else RAISED
    fatal, handled = scoped_errors(timeline) if timeline is not None else ([], [])
    last_exc = None
    for src in ksources:
        for call, is_fatal in src.exceptions():
            exc = call.exception or ("", "")
            entry = {"api_name": call.api_name, "type": exc[0], "message": exc[1]}
            if is_fatal and (dead is None or src is dead):
                last_exc = entry
            else:
                handled.append({"request": None, "kind": "kernel", "stage": None, "step": None,
                                "text": f"{call.api_name}: {exc[0]}: {exc[1]}", "source": src.source})
    known = {e["text"] for e in handled}
    handled += [e for e in dump_history(dumps, all_dumps) if e["text"] not in known]
    if timeline is not None:
        cuda = [e["text"] for e in fatal if e["cuda"]]
    else:
        cuda = list(cuda_errors)
    first = first_non_finite(ksources)
    attribute_first_non_finite(first, timeline)
    process = None
    if dead is not None:
        why = ("its kernel API log ends inside a call" if call_status == IN_FLIGHT
               else "its kernel API log ends with a call that raised" if call_status == RAISED
               else "it logged the last call")
        process = {"pid": dead.pid, "source": dead.source, "why": why if len(ksources) > 1 else "the only process logged"}
    elif used_dump is not None:
        process = {"pid": used_dump.pid, "source": used_dump.path, "why": "its dump folder"}
    process = name_process(process, workers)
    counts = dict(api_counts) if api_counts is not None else {}
    if api_counts is None:
        for src in ksources:
            for call in src.calls:
                counts[call.api_name] = counts.get(call.api_name, 0) + 1
    return CrashReport(
        how=describe(exit, stalled_for), abnormal=abnormal, exit=exit.to_dict() if exit is not None else None,
        stalled_for=stalled_for, cuda_errors=list(dict.fromkeys(cuda)), in_flight=in_flight,
        call_status=call_status, last_call=last_call,
        other_pending_dumps=[{"path": d.path, "status": d.status, "api_name": d.metadata.function_name
                              if d.metadata else d.api_name} for d in dumps if d is not used_dump],
        last_exception_call=last_exc,
        request=request_summary(_request_of(timeline, process), abnormal),
        fatal_errors=fatal, handled_errors=handled, first_non_finite=first, process=process,
        processes=[{"source": s.source, "pid": s.pid, "level": s.level_text, "calls": len(s.calls),
                    "ends": s.verdict()[0], "last_call": s.calls[-1].api_name if s.calls else None}
                   for s in ksources],
        api_counts=counts, kernel_calls_seen=sum(len(s.calls) for s in ksources), tail=list(tail)[-TAIL_LINES:],
        command=command, run_dir=run_dir, sources=list(sources), workers=[dict(w) for w in workers],
    )


def _request_of(timeline: Timeline | None, process: dict[str, Any] | None) -> Any:
    """The request the crash hit: the failed worker's own (its ``DP<r>`` lines) in a ``--num-workers`` run."""
    if timeline is None:
        return None
    worker = process.get("worker") if process else None
    return timeline.last_of(worker) if worker is not None else timeline.last


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
    The requests and their errors come from the run's whole ``stdout.log`` / ``stderr.log`` when
    ``run_dir`` has them, else from the router's tail (arrival order).
    """
    calls = router.recent_kernel_calls()
    for stream, open_calls in router.open_kernel_calls().items():
        calls += [(stream, c) for c in open_calls]
    tail = router.tail(TAIL_LINES, output_only=True) or router.tail(TAIL_LINES)
    logs = [os.path.join(run_dir, n) for n in ("stdout.log", "stderr.log")] if run_dir else []
    logs = [p for p in logs if os.path.isfile(p)]
    if logs:
        named = zip(logs, (STDOUT, STDERR), strict=False)
        timeline = build_timeline(merge_by_time([read_source(p, name, LIVE_LOG_BYTES) for p, name in named]))
    else:
        # Arrival order across streams is the truth here; stamps are only carried within a stream.
        lines = router.tail(10_000, output_only=True)
        by_stream: dict[str, list[Line]] = {}
        for ln in lines:
            by_stream.setdefault(ln.stream, []).append(ln)
        stamped: dict[int, SourceLine] = {}
        for stream, group in by_stream.items():
            for ln, sl in zip(group, stamp_lines(stream, [g.plain for g in group]), strict=True):
                stamped[ln.seq] = sl
        timeline = build_timeline([stamped[ln.seq] for ln in lines])
    return analyze(
        exit=exit, stalled_for=stalled_for, tail=[ln.plain for ln in tail],
        cuda_errors=[ln.plain.strip() for ln in router.cuda_error_lines()], calls=calls, dump_roots=dump_roots,
        api_counts=router.stats()["api_counts"], command=command, run_dir=run_dir, timeline=timeline,
        workers=router.workers(),
    )


def merged_tail(lines: Sequence[SourceLine], n: int = TAIL_LINES, brief: Collection[str] = ()) -> list[str]:
    """The last ``n`` non-blank lines of several files merged by time; a run of tqdm fragments of
    one file shows only its last one (as a terminal would). Sources in ``brief`` (kernel API log
    files) give only their call / exception / dump lines, so their argument dumps do not push the
    console's own lines out (the call in flight is shown whole elsewhere)."""
    out: list[tuple[str, str, bool]] = []
    for line in lines:
        if not line.text.strip():
            continue
        if line.source in brief and not line.text.startswith(("[", "Dumped ")):
            continue
        bar = "%|" in line.text
        record = ProgressRecord.parse(line.text) if bar else None
        if bar and record is not None and record.step > 0 and out and out[-1][2] and out[-1][0] == line.source:
            out[-1] = (line.source, line.text, True)
        else:
            out.append((line.source, line.text, bar))
    return [text for _, text, _ in out[-n:]]


def analyze_files(
    logs: Sequence[str],
    dump_dirs: Sequence[str] = (),
    exit: ExitStatus | None = None,
) -> CrashReport:
    """The same analysis for logs and dumps on disk (ours or a real SGLang's).

    Each log is read whole: console captures (stdout/stderr), kernel API ``LOGDEST`` files (one per
    process with ``%i``) or ``performance.log``; they are merged by time for the requests and the
    tail. A dump dir may be the dump root or one call folder (its parent is scanned then).
    """
    per = [read_source(p) for p in logs]
    merged = merge_by_time(per)
    ksources = [k for p, lines in zip(logs, per, strict=True) if (k := kernel_source(p, lines)) is not None]
    roots = []
    for d in dump_dirs:
        roots.append(os.path.dirname(os.path.abspath(d)) if os.path.isfile(os.path.join(d, "metadata.json")) else d)
    ordinary = {ln.source for ln in merged if split_log_prefix(ln.text)[0] is not None}
    kernel_only = {k.source for k in ksources if k.source not in ordinary}
    return analyze(exit=exit, tail=merged_tail(merged, brief=kernel_only), dump_roots=roots, sources=[*logs, *dump_dirs],
                   timeline=build_timeline(merged) if logs else None, kernel_sources=ksources,
                   workers=workers_from_lines(ln.text for ln in merged))


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
    "analyze_router", "arg_info", "describe", "is_abnormal", "merged_tail", "pending_dumps", "rerun_env",
]

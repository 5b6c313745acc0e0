"""The evidence behind a crash report, weighed: which process died, which request it was on, which
errors are fatal and which were survived, and where the first NaN/Inf happened.

Why apart from :mod:`tui.crash`: these are the judgement calls (tested one by one on genuine upstream
logs); crash.py only assembles the report. Nothing here parses a line. Imports neither textual nor rich.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from backend.records import DumpEntry, KernelApiCall
from tui.crash_calls import IN_FLIGHT, KernelSource, pid_from_name
from tui.crash_scope import RequestScope, Timeline


def call_stamp(call: KernelApiCall) -> str:
    return call.timestamp.strftime("%Y-%m-%d %H:%M:%S") if call.timestamp else ""


def group_sources(calls: Sequence[tuple[str, KernelApiCall]]) -> list[KernelSource]:
    """Calls handed over as ``(stream, call)`` (the live router) grouped into per-stream sources."""
    by_stream: dict[str, list[KernelApiCall]] = {}
    for stream, call in calls:
        by_stream.setdefault(stream, []).append(call)
    out = []
    for stream, group in by_stream.items():
        detailed = any(c.inputs or c.output is not None or c.dumped_inputs_dir for c in group)
        name = stream[5:] if stream.startswith("file:") else stream
        out.append(KernelSource(stream, pid_from_name(name), detailed, sorted(group, key=lambda c: c.index)))
    return out


def pick_dead(sources: Sequence[KernelSource], dumps: Sequence[DumpEntry],
              failed_pids: Collection[int] = ()) -> KernelSource | None:
    """The process that died: the one whose log ends inside a call (level >= 3), else the one whose
    pid left a dump still ``inputs_saved``, else the one that logged last.  Where the backend said
    which workers failed (``failed_pids``), only their logs are candidates: a worker that finished
    cleanly may well have logged after the one that raised."""
    if not sources:
        return None
    failing = [s for s in sources if s.pid is not None and s.pid in failed_pids]
    sources = failing or sources
    verdicts = [(s, s.verdict()) for s in sources]
    inside = [(s, v) for s, v in verdicts if v[0] == IN_FLIGHT]
    if inside:
        return max(inside, key=lambda sv: call_stamp(sv[1][1]) if sv[1][1] else "")[0]
    hard = {d.pid for d in dumps if d.status == "inputs_saved"}
    for s in sources:
        if s.pid is not None and s.pid in hard:
            return s
    return max(sources, key=lambda s: (call_stamp(s.calls[-1]) if s.calls else "", len(s.calls)))


def dump_history(dumps: Sequence[DumpEntry], all_dumps: Sequence[DumpEntry]) -> list[dict[str, Any]]:
    """Exception dumps followed by a later completed call of the same process: survived."""
    out = []
    for d in dumps:
        if d.status != "exception" or d.metadata is None:
            continue
        later = [e for e in all_dumps if e.pid == d.pid and (e.timestamp or "") > (d.timestamp or "")]
        if later:
            exc = d.metadata.exception or {}
            out.append({"request": None, "kind": "kernel", "stage": None, "step": None,
                        "text": f"{d.metadata.function_name}: {exc.get('type')}: {exc.get('message')}",
                        "source": d.path})
    return out


def request_summary(scope: RequestScope | None, abnormal: bool) -> dict[str, Any] | None:
    if scope is None:
        return None
    outcome = "completed" if scope.done else "failed" if scope.failed or scope.errors else (
        "in flight when the process died" if abnormal else "not finished when the log ends")
    return {
        "label": scope.label, "ordinal": scope.ordinal, "request_id": scope.request_id,
        "stage": scope.stage_in_flight or scope.failed_stage, "stage_state":
        "in flight" if scope.stage_in_flight else ("failed" if scope.failed_stage else None),
        "step": scope.step, "total_steps": scope.total_steps, "step_source": scope.step_source,
        "step_text": scope.step_text(), "outcome": outcome, "started": scope.first_stamp or None,
    }


def scoped_errors(timeline: Timeline) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(fatal, handled)``, each deduplicated by text (a stage error, its traceback and the request
    failure usually repeat the same message)."""
    fatal: list[dict[str, Any]] = []
    handled: list[dict[str, Any]] = []
    seen: set[tuple[bool, str | None, str]] = set()
    owners = [(None, e) for e in timeline.loose_errors] + [(r.label, e) for r in timeline.requests for e in r.errors]
    for label, err in owners:
        core = err.text.split(": ", 1)[1] if err.kind == "exception" and ": " in err.text else err.text
        key = (err.fatal, label, core)
        if key in seen:
            continue
        seen.add(key)
        entry = {"request": label, "kind": err.kind, "text": err.text, "cuda": err.cuda, "stage": err.stage,
                 "step": err.step, "source": err.source, "stamp": err.stamp}
        (fatal if err.fatal else handled).append(entry)
    return fatal, handled


def attribute_first_non_finite(first: dict[str, Any] | None, timeline: Timeline | None) -> None:
    """Name the request, stage and step of the first NaN/Inf call. Exact when the call's block sits in
    the same stream as the stage lines (and tqdm's fragments, for the step); otherwise the request only
    when the call's time (to the second) falls in exactly one request, and the step is not known."""
    if first is None:
        return
    first.update(request=None, stage=None, step=None, step_note=None)
    if timeline is None:
        return
    known = timeline.call_context.get((first["source"], first["call_index"]))
    if known is not None:
        first["request"], first["stage"], first["step"] = known
        if known[2] is None:
            first["step_note"] = "no progress fragments in the same stream"
        return
    stamp = (first.get("timestamp") or "")[5:]
    if stamp:
        hits = [r for r in timeline.requests if r.first_stamp <= stamp <= (r.last_stamp or r.first_stamp)]
        if len(hits) == 1:
            first["request"] = hits[0].label
    first["step_note"] = "the kernel API log is a file of its own, timed to the second"


__all__ = [
    "attribute_first_non_finite", "call_stamp", "dump_history", "group_sources", "pick_dead", "request_summary",
    "scoped_errors",
]

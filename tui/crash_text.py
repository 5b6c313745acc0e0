"""The crash report as text: the headline and the full report (the crash view and ``crash-report``).

Why apart from :mod:`tui.crash`: that module decides, this one only words the decisions, with the
caveats the evidence requires ("level 1 cannot tell whether it finished", "between kernel calls").
Imports neither textual nor rich.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tui.crash_calls import BETWEEN_CALLS, IN_FLIGHT, LAST_LOGGED, LEVEL1_CAVEAT, RAISED

if TYPE_CHECKING:
    from tui.crash import CrashReport, InFlightCall


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
    if report.process and report.process.get("pid") is not None and len(report.processes) > 1:
        parts.append(f"pid {report.process['pid']}")
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
                   + (f", signal {report.exit.get('signal_name')}" if report.exit.get("signal") else ""))  # fmt: skip
    if report.command:
        out.append(f"Command: {report.command}")
    if report.run_dir:
        out.append(f"Run dir: {report.run_dir}")
    if report.process and (report.process.get("pid") is not None or len(report.processes) > 1):
        pid = report.process.get("pid")
        out.append(f"Process: {'pid ' + str(pid) if pid is not None else 'pid not logged'} "
                   f"({report.process['why']}; {report.process['source']})")  # fmt: skip
    if len(report.processes) > 1:
        for p in report.processes:
            ends = {IN_FLIGHT: "ends inside a call", BETWEEN_CALLS: "ends after a returned call",
                    LAST_LOGGED: "level 1: ends with a header"}[p["ends"]]  # fmt: skip
            out.append(f"  pid {p['pid']}: {p['calls']} calls, {ends} ({p['last_call']}) [{p['source']}]")
    req = report.request
    if req:
        out.append(f"Request: {req['label']}" + (f", id {req['request_id']}" if req.get("request_id")
                                                  else ", id not logged") + f" ({req['outcome']})")  # fmt: skip
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
                   + ("; the process died outside any kernel call)" if report.abnormal else ")"))  # fmt: skip
        out += _call_lines("  last call returned", report.last_call)
    else:
        out.append("Kernel API call in flight: none found"
                   + ("" if report.kernel_calls_seen else " (no kernel API log; re-run with level 3/5/10)"))  # fmt: skip
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

"""Which worker died, on which device, and what the others finished (``--num-workers`` runs).

Why apart from :mod:`tui.crash`: the crash analysis finds the process that died from its kernel API
log; this module names it as the backend did (worker rank, pid, device) from the worker lines the
router or the log files hold, and says which workers' work is complete and kept.  The lines are
recognised by ``backend.records`` (their writer's own shapes); nothing here parses a line shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from backend.records import WorkerEnded, WorkerPlaced, note_worker, parse_line


def workers_from_lines(texts: Iterable[str]) -> list[dict[str, Any]]:
    """The worker table (as ``Router.workers()`` gives it) from log lines read back from files."""
    table: dict[int, dict[str, Any]] = {}
    for text in texts:
        if "Worker " not in text:
            continue
        record = parse_line(text)
        if isinstance(record, (WorkerPlaced, WorkerEnded)):
            note_worker(table, record)
    return [table[rank] for rank in sorted(table)]


def failed(worker: Mapping[str, Any]) -> bool:
    """Ended without a result, or with a non-zero exit code."""
    return "reported" in worker and (not worker["reported"] or bool(worker.get("exit_code")))


def name_process(process: dict[str, Any] | None, workers: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """``process`` (the one that died, by pid) with its worker ``rank`` and ``device`` added; with no
    process found from the kernel API logs, the only worker that failed (if exactly one did)."""
    if not workers:
        return process
    if process is not None and process.get("pid") is not None:
        worker = next((w for w in workers if w.get("pid") == process["pid"]), None)
        if worker is not None:
            return {**process, "worker": worker["rank"], "device": worker.get("device")}
        return process
    bad = [w for w in workers if failed(w)]
    if process is None and len(bad) == 1:
        w = bad[0]
        return {"pid": w.get("pid"), "source": "the backend's worker lines", "why": "the only worker that failed",
                "worker": w["rank"], "device": w.get("device")}
    return process


def worker_line(worker: Mapping[str, Any], dead_rank: int | None) -> str:
    """One worker in the report: where it ran and how it ended."""
    where = f"worker {worker['rank']} (pid {worker.get('pid')}, {worker.get('device') or 'device not logged'})"
    if "reported" not in worker:
        end = "no end logged (still running when the backend died, or killed with it)"
    elif not worker["reported"]:
        end = f"died without a result (exit status {worker.get('exit_code')})"
    elif worker.get("exit_code"):
        end = f"failed, exit code {worker['exit_code']}, {worker.get('outputs', 0)} output(s)"
    else:
        end = f"finished: {worker.get('outputs', 0)} output(s), complete and kept"
    return f"  {where}: {end}" + ("  <- died here" if worker["rank"] == dead_rank else "")

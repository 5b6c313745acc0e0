"""Our backend's ``--num-workers`` lines: where each worker runs, and how it ended.

Why records: the console names the worker (rank, pid, device) a crash came from and reports the
other workers' finished work as kept; the writers (``backend.pipeline.device``,
``backend.server.workers``) and the parser share these shapes.  Plain text, no ANSI.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WorkerPlaced:
    rank: int
    workers: int
    pid: int
    device: str
    """``cuda:1``, ``cpu``, ..."""
    detail: str
    """The device's description and why it was chosen (GPU name, visible GPUs)."""


@dataclass(frozen=True)
class WorkerEnded:
    rank: int
    pid: int
    outputs: int
    exit_code: int | None
    """The worker's own exit code (None when it died without a result and no status was known)."""
    reported: bool
    """False: the worker died without reporting a result (killed, crashed)."""


def worker_placed_message(rank: int, workers: int, pid: int, device: str, detail: str) -> str:
    """``Worker R of N (pid P) on DEVICE (DETAIL)``: one line per worker, parsed as :class:`WorkerPlaced`."""
    return f"Worker {rank} of {workers} (pid {pid}) on {device} ({detail})"


def worker_finished_message(rank: int, pid: int, outputs: int, exit_code: int) -> str:
    """A worker that reported its result (parsed as :class:`WorkerEnded`)."""
    return f"Worker {rank} (pid {pid}) finished: {outputs} output(s), exit code {exit_code}"


def worker_died_message(rank: int, pid: int | None, status: int | None) -> str:
    """A worker that died without a result (parsed as :class:`WorkerEnded`, ``reported=False``)."""
    return f"Worker {rank} (pid {pid}) died without a result (exit status {status})"


_PLACED_RE = re.compile(r"^Worker (\d+) of (\d+) \(pid (\d+)\) on (\S+) \((.*)\)\s*$")
_FINISHED_RE = re.compile(r"^Worker (\d+) \(pid (\d+)\) finished: (\d+) output\(s\), exit code (-?\d+)\s*$")
_DIED_RE = re.compile(r"^Worker (\d+) \(pid (\d+)\) died without a result \(exit status (-?\d+|None)\)\s*$")


def parse_worker_line(text: str) -> WorkerPlaced | WorkerEnded | None:
    """One message (log prefix already split off) as a worker record, or None."""
    if not text.startswith("Worker "):
        return None
    if m := _PLACED_RE.match(text):
        return WorkerPlaced(int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5))
    if m := _FINISHED_RE.match(text):
        return WorkerEnded(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)), True)
    if m := _DIED_RE.match(text):
        status = None if m.group(3) == "None" else int(m.group(3))
        return WorkerEnded(int(m.group(1)), int(m.group(2)), 0, status, False)
    return None


def note_worker(table: dict[int, dict[str, Any]], record: WorkerPlaced | WorkerEnded) -> None:
    """Fold one worker record into ``table`` (rank -> ``rank``, ``pid``, ``device``, ``detail``,
    ``workers``; once ended ``outputs``, ``exit_code``, ``reported``): the router's live table and
    the crash analysis of files keep it the same way."""
    worker = table.setdefault(record.rank, {"rank": record.rank})
    worker["pid"] = record.pid
    if isinstance(record, WorkerPlaced):
        worker.update(device=record.device, detail=record.detail, workers=record.workers)
    else:
        worker.update(outputs=record.outputs, exit_code=record.exit_code, reported=record.reported)

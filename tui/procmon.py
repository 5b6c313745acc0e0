"""Process-tree snapshots for the Process view: pid, ppid, name, cmdline, status, CPU %, RSS,
threads, open files.

Why a class: ``psutil.Process.cpu_percent`` measures since its previous call on the *same*
object, so the monitor keeps one object per pid between snapshots (the first sample of a
process reads 0.0).  Processes that vanish or deny access mid-sample are tolerated: fields
that could not be read are ``None``, a vanished process is left out.

Imports neither textual nor rich.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil

from tui.engine.proctree import child_pids

_GONE = (psutil.NoSuchProcess, psutil.ZombieProcess, ProcessLookupError)


@dataclass(frozen=True)
class ProcInfo:
    """One process of the tree."""

    pid: int
    ppid: int | None
    name: str
    cmdline: tuple[str, ...]
    status: str
    """psutil status: ``running``, ``sleeping``, ``zombie``, ``stopped`` ..."""
    cpu_percent: float | None
    """Since the previous snapshot, per core (can exceed 100)."""
    rss: int | None
    """Resident memory in bytes."""
    threads: int | None
    open_files: int | None
    """Regular files open (``None`` when denied)."""
    depth: int
    """0 for the root, 1 for its children, ..."""
    create_time: float | None = None


@dataclass(frozen=True)
class TreeSnapshot:
    """The whole tree at one moment, root first, depth-first order (children sorted by pid)."""

    time: float
    root_pid: int
    procs: tuple[ProcInfo, ...]

    @property
    def alive(self) -> bool:
        return any(p.pid == self.root_pid for p in self.procs)

    @property
    def total_cpu_percent(self) -> float:
        return sum(p.cpu_percent or 0.0 for p in self.procs)

    @property
    def total_rss(self) -> int:
        return sum(p.rss or 0 for p in self.procs)

    @property
    def total_threads(self) -> int:
        return sum(p.threads or 0 for p in self.procs)


ATTRS = ("ppid", "name", "cmdline", "status", "cpu_percent", "memory_info", "num_threads", "open_files",
         "create_time")


def _info(p: psutil.Process, depth: int) -> ProcInfo | None:
    """One process, read in one ``as_dict`` pass; fields it may not read are None."""
    try:
        d = p.as_dict(ATTRS, ad_value=None)
    except _GONE:
        return None
    if d["name"] is None and d["status"] is None:
        return ProcInfo(p.pid, None, "?", (), "denied", None, None, None, None, depth)
    mem, files = d["memory_info"], d["open_files"]
    return ProcInfo(p.pid, d["ppid"], d["name"] or "?", tuple(d["cmdline"] or ()), d["status"] or "?",
                    d["cpu_percent"], mem.rss if mem is not None else None, d["num_threads"],
                    len(files) if files is not None else None, depth, d["create_time"])


class ProcessMonitor:
    """Samples the tree under ``root_pid``; call :meth:`snapshot` about once a second.

    Args:
        root_pid: the supervised child.
        extra_pids: optional callable giving more pids to include (e.g. the supervisor's known
            descendants that left the tree); shown at depth 1 when not found under the root.
    """

    def __init__(self, root_pid: int, extra_pids: Callable[[], Iterable[int]] | None = None) -> None:
        self.root_pid = root_pid
        self._extra = extra_pids
        self._procs: dict[int, psutil.Process] = {}

    def _get(self, pid: int) -> psutil.Process | None:
        p = self._procs.get(pid)
        if p is not None:
            try:
                if p.is_running():
                    return p
            except _GONE:
                pass
        try:
            p = psutil.Process(pid)
        except (*_GONE, psutil.AccessDenied):
            self._procs.pop(pid, None)
            return None
        self._procs[pid] = p
        return p

    def snapshot(self) -> TreeSnapshot:
        """Sample every process of the tree; never raises for vanished or denied processes."""
        out: list[ProcInfo] = []
        seen: set[int] = set()
        root = self._get(self.root_pid)

        def walk(p: psutil.Process, depth: int) -> None:
            if p.pid in seen:
                return
            seen.add(p.pid)
            info = _info(p, depth)
            if info is None:
                return
            out.append(info)
            for kid in child_pids(p.pid):
                cached = self._get(kid)
                if cached is not None:
                    walk(cached, depth + 1)

        if root is not None:
            walk(root, 0)
        if self._extra is not None:
            for pid in sorted(self._extra()):
                if pid not in seen:
                    p = self._get(pid)
                    if p is not None:
                        walk(p, 1)
        for pid in list(self._procs):
            if pid not in seen:
                self._procs.pop(pid, None)
        return TreeSnapshot(time.time(), self.root_pid, tuple(out))


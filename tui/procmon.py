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


def _info(p: psutil.Process, depth: int) -> ProcInfo | None:
    try:
        with p.oneshot():
            name = p.name()
            status = p.status()
            try:
                ppid: int | None = p.ppid()
            except psutil.AccessDenied:
                ppid = None
            try:
                cmdline = tuple(p.cmdline())
            except (psutil.AccessDenied, psutil.ZombieProcess):
                cmdline = ()
            try:
                cpu: float | None = p.cpu_percent(None)
            except psutil.AccessDenied:
                cpu = None
            try:
                rss: int | None = p.memory_info().rss
            except psutil.AccessDenied:
                rss = None
            try:
                threads: int | None = p.num_threads()
            except psutil.AccessDenied:
                threads = None
            try:
                files: int | None = len(p.open_files())
            except (psutil.AccessDenied, OSError):
                files = None
            try:
                created: float | None = p.create_time()
            except psutil.AccessDenied:
                created = None
    except _GONE:
        return None
    except psutil.AccessDenied:
        return ProcInfo(p.pid, None, "?", (), "denied", None, None, None, None, depth)
    return ProcInfo(p.pid, ppid, name, cmdline, status, cpu, rss, threads, files, depth, created)


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
            try:
                kids = sorted(p.children(), key=lambda c: c.pid)
            except (*_GONE, psutil.AccessDenied):
                kids = []
            for kid in kids:
                cached = self._get(kid.pid)
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


def snapshot_tree(root_pid: int) -> TreeSnapshot:
    """One-off snapshot (CPU % reads 0.0: there is no previous sample)."""
    return ProcessMonitor(root_pid).snapshot()

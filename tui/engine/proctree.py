"""The run's process tree through psutil, every call tolerant of processes that vanish.

Why: the supervisor signals the whole tree (including workers that left the process group)
and waits for it with ``psutil.wait_procs``; the engine checks for survivors the same way.
Imports neither textual nor rich.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import psutil


def proc(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


def descendants(pid: int) -> list[psutil.Process]:
    """Recursive children of ``pid`` (empty when gone)."""
    p = proc(pid)
    if p is None:
        return []
    try:
        return p.children(recursive=True)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []


def alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def signal_procs(procs: Iterable[psutil.Process], sig: int) -> None:
    for p in procs:
        try:
            p.send_signal(sig)
        except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
            pass


def killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def group_members(pgid: int) -> list[psutil.Process]:
    try:
        os.killpg(pgid, 0)  # O(1): is anyone left in the group?  Most exits end here.
    except ProcessLookupError:
        return []
    except PermissionError:
        pass
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(p.pid) == pgid:
                out.append(p)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return out


def tree_cpu_seconds(procs: Iterable[psutil.Process]) -> float:
    """Sum of user+system CPU seconds of ``procs`` (gone ones count 0)."""
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
            continue
    return total




def session_members(sid: int) -> list[psutil.Process]:
    """Live processes (not zombies) of session ``sid``: what is left of a run started with
    ``start_new_session`` (its session id is the child's pid)."""
    out = []
    for p in psutil.process_iter(["pid"]):
        try:
            if os.getsid(p.pid) == sid and alive(p):
                out.append(p)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return out

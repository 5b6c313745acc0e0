"""The run's process tree through psutil, every call tolerant of processes that vanish.

Why: the supervisor signals the whole tree (including workers that left the process group)
and waits for it with ``psutil.wait_procs``; the engine checks for survivors the same way.
Imports neither textual nor rich.

Children come from the kernel's own lists (``/proc/<pid>/task/<tid>/children``) where it keeps
them: a walk costs in proportion to the run's tree.  psutil finds children by reading the parent
of every process on the host, and the supervisor and the Process view walk the tree several
times a second: on a GPU host with a thousand processes that scan alone took a visible share of
a core from the run being watched.  Where the kernel keeps no lists, psutil's scan is used.
"""

from __future__ import annotations

import os
import select
import subprocess
from collections.abc import Iterable

import psutil


def proc(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError):
        return None


KERNEL_CHILD_LISTS = os.path.exists(f"/proc/self/task/{os.getpid()}/children")
"""Whether this kernel keeps per-thread child lists (``CONFIG_PROC_CHILDREN``, on in common distributions)."""


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid``, sorted (empty when gone): every thread's kernel list, since a
    child belongs to the thread that forked it; psutil's host-wide scan where there are no lists."""
    if not KERNEL_CHILD_LISTS:
        p = proc(pid)
        try:
            return sorted(c.pid for c in p.children()) if p is not None else []
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return []
    kids: list[int] = []
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    for tid in threads:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                kids.extend(int(k) for k in f.read().split())
        except OSError:  # the thread ended meanwhile: its children moved to another
            continue
    return sorted(set(kids))


def descendants(pid: int) -> list[psutil.Process]:
    """Recursive children of ``pid``, parents before their children (empty when gone)."""
    out: list[psutil.Process] = []
    todo = child_pids(pid)
    seen = {pid}
    while todo:
        kid = todo.pop(0)
        if kid in seen:
            continue
        seen.add(kid)
        p = proc(kid)
        if p is not None:
            out.append(p)
            todo.extend(child_pids(kid))
    return out


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


class ExitWait:
    """Waits for a child's exit in the kernel (a pidfd) instead of polling for it.

    Why: ``Popen.wait(timeout)`` sleeps in growing steps of up to 50 ms, so a monitor that checks
    the tree between waits wakes the interpreter dozens of times a second and sees an exit up to
    50 ms late.  A pidfd wakes it once, at the exit.  Where there is none (not Linux, an old
    kernel), it is ``Popen.wait`` as before.
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc
        self._poll: select.poll | None = None
        self._fd: int | None = None
        if hasattr(os, "pidfd_open") and hasattr(select, "poll"):
            try:
                self._fd = os.pidfd_open(proc.pid)
            except OSError:  # already reaped, or a kernel without pidfds
                return
            self._poll = select.poll()
            self._poll.register(self._fd, select.POLLIN)

    def wait(self, timeout: float) -> int | None:
        """The exit code once the child has ended within ``timeout`` seconds (it is reaped), else None."""
        if self._poll is None:
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        if not self._poll.poll(max(0, int(timeout * 1000))):
            return None
        return self.proc.wait()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            self._poll = None

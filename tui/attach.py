"""Watch a backend this console did not start: its log files, its dev endpoints, its pid.

Why: backends are often started by something else (systemd, a job script, a colleague).  The
console can still follow what they write (stdout captured to a file, kernel API logs with ``%i``,
``performance.log``) through the same tailer and router as a launched run, read our backend's dev
endpoints when a URL is given, and see the process die from the process table.

The exit status of a process that is not our child can only be read while it is a zombie
(``/proc/PID/stat`` field 52, the wait status its parent has not collected yet).  Past that, the
logs tell how it ended (``Fatal Python error: Segmentation fault``, ``CUDA out of memory``) and
the report says the status was inferred.  Imports neither textual nor rich.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psutil

from tui.engine import proctree
from tui.router import Router

DEV_ENDPOINTS = ("/health", "/dev/settings", "/dev/memory", "/dev/last-request")
"""Our backend's dev routes (``SGLANG_DIFFUSION_SERVER_DEV_MODE=true``); a real SGLang answers /health."""

_FATAL_SIGNALS = (  # Python's faulthandler and the C runtime's words for a signal death
    (re.compile(r"Fatal Python error: Segmentation fault|Segmentation fault"), signal.SIGSEGV),
    (re.compile(r"Fatal Python error: Aborted|Aborted \(core dumped\)"), signal.SIGABRT),
    (re.compile(r"Fatal Python error: Bus error"), signal.SIGBUS),
    (re.compile(r"Fatal Python error: Floating point exception"), signal.SIGFPE),
)


@dataclass
class DevSnapshot:
    """The last answer of each dev endpoint (JSON), or the reason it did not answer."""

    url: str
    answers: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    time: float = 0.0


def read_dev_endpoints(url: str, timeout: float = 1.0) -> DevSnapshot:
    """One GET of each dev endpoint of ``url`` (``http://host:port``)."""
    snap = DevSnapshot(url.rstrip("/"), time=time.time())
    for path in DEV_ENDPOINTS:
        try:
            with urllib.request.urlopen(snap.url + path, timeout=timeout) as resp:  # noqa: S310 - operator's URL
                snap.answers[path] = json.loads(resp.read().decode("utf-8", "replace") or "null")
        except urllib.error.HTTPError as exc:
            snap.errors[path] = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            snap.errors[path] = str(getattr(exc, "reason", exc))
    return snap


def zombie_wait_status(pid: int) -> int | None:
    """The wait status of ``pid`` while it is a zombie (its parent has not reaped it), else None."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()  # after "pid (comm) ": state is field 3
    if not fields or fields[0] != "Z" or len(fields) < 50:
        return None
    return int(fields[49])  # field 52 of the whole line: exit_code (the wait status)


def returncode_from_wait_status(status: int) -> int:
    """``subprocess`` convention: ``-N`` for a death by signal N, else the exit code."""
    return -(status & 0x7F) if status & 0x7F else (status >> 8) & 0xFF


def signal_from_logs(lines: Sequence[str]) -> int | None:
    """The signal the last lines of the output name, if any (newest first)."""
    for line in reversed(lines):
        for rx, sig in _FATAL_SIGNALS:
            if rx.search(line):
                return int(sig)
    return None


class AttachedProcess:
    """Waits for a process that is not our child to end; knows its tree while it lives."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.proc = psutil.Process(pid)  # raises psutil.NoSuchProcess: the caller says so
        try:
            self.name = self.proc.name()
            self.cmdline = tuple(self.proc.cmdline())
        except psutil.ZombieProcess:  # already dead, not yet reaped: its status is there to read
            self.name, self.cmdline = f"pid {pid} (exited)", ()
        self._known: set[int] = {pid}
        self.wait_status: int | None = None
        self.gone = threading.Event()

    def known_pids(self) -> set[int]:
        """The pid and every descendant seen so far (for ``%i`` logs of workers)."""
        self._known.update(p.pid for p in proctree.descendants(self.pid))  # the kernel's child lists
        return set(self._known)

    def alive(self) -> bool:
        """False once the process is a zombie or gone (a zombie's status is kept)."""
        try:
            status = self.proc.status()
        except psutil.NoSuchProcess:
            return False
        if status == psutil.STATUS_ZOMBIE:
            self.wait_status = zombie_wait_status(self.pid)
            return False
        return True

    def wait(self, poll: float = 0.2, timeout: float | None = None) -> bool:
        """Until the process ended (True) or ``timeout`` (False); polls the process table."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.alive():
            self.known_pids()
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(poll)
        self.gone.set()
        return True


def follow_logs(router: Router, logs: Sequence[str], known_pids: Any,
                before_read: Callable[[], None] | None = None) -> Any:
    """A started :class:`tui.tail.Tailer` on ``logs``, each from its start (``%i`` allowed).

    The first plain file is the process's captured stdout (stream ``stdout``: its lines are the
    run's output, as for a launched run); the others (kernel API logs, ``performance.log``) are
    streams of their own.  Stop the tailer to read the files to their end.  ``before_read``: the
    engine's input gate (``tui.engine.input_first``).
    """
    from tui.routed import STDOUT
    from tui.tail import Tailer

    tailer = Tailer(router, pids=known_pids, before_read=before_read)
    stdout_taken = False
    for path in logs:
        plain = "%i" not in path
        tailer.add(path, stream=STDOUT if plain and not stdout_taken else None, from_start=True)
        stdout_taken = stdout_taken or plain
    tailer.start()
    return tailer


def build_report(router: Any, proc: Any, dump_dirs: list[str], command: str) -> tuple[Any, Any]:
    """The crash report at the death of an attached process, and its ``ExitStatus`` (None: unknown)."""
    from tui import crash  # only when a process died: the analysis is not needed to follow one
    from tui.supervisor import ExitStatus

    note = None
    status = None
    if proc.wait_status is not None:
        status = ExitStatus.decode(returncode_from_wait_status(proc.wait_status))
        note = "exit status read from the process table (/proc: the zombie's wait status)"
    else:
        sig = signal_from_logs([ln.plain for ln in router.tail(200)])
        if sig is not None:
            status = ExitStatus.decode(-sig)
            note = "exit status inferred from the log (not our child, already reaped by its parent)"
    report = crash.analyze_router(router, status, dump_roots=dump_dirs, command=command)
    report.sources.append(note or "exit status unknown: not our child, reaped by its parent, nothing in the log")
    if status is None:
        report.how = f"pid {proc.pid} is gone; exit status unknown"
        report.abnormal = True
    return report, status

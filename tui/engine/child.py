"""How a child is spawned so that it dies with the console, even when the console is SIGKILLed.

Linux ``PR_SET_PDEATHSIG``: the kernel sends the child SIGKILL when its parent *thread* ends.
Because it is the thread, not the process, every child is spawned from one thread that lives
as long as the console (:func:`spawn`); a worker thread that started a child and returned
would otherwise kill it at once.  Elsewhere (macOS) the supervisor's stop is all there is.
"""

from __future__ import annotations

import ctypes
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

PR_SET_PDEATHSIG = 1

_prctl: Any = None
if sys.platform.startswith("linux"):
    try:
        _prctl = ctypes.CDLL(None, use_errno=True).prctl
        _prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        _prctl.restype = ctypes.c_int
    except (OSError, AttributeError):  # pragma: no cover - a libc without prctl
        _prctl = None

_signal_default: Any = None
"""libc's ``signal(signum, handler)``, called in the child between fork and exec (no Python there)."""
if _prctl is not None:
    try:
        _signal_default = ctypes.CDLL(None, use_errno=True).signal
        _signal_default.argtypes = [ctypes.c_int, ctypes.c_void_p]
        _signal_default.restype = ctypes.c_void_p
    except (OSError, AttributeError):  # pragma: no cover - a libc without signal()
        _signal_default = None


def die_with_parent_hook() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when this process dies; None off Linux.

    It also gives the child SIGINT's default action back: a console started where SIGINT is
    ignored (a script's ``&`` without job control) would hand that on through exec, and the stop's
    first step, SIGINT, would then be lost on the child (found by a stress run: the stop fell
    through to SIGTERM).  Built before the fork (the ctypes functions and our pid are looked up
    here), so the child runs only C calls and syscalls between fork and exec.
    """
    if _prctl is None:
        return None
    prctl, default_action = _prctl, _signal_default
    parent = os.getpid()
    sig, sigint = int(signal.SIGKILL), int(signal.SIGINT)

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if default_action is not None:
            default_action(sigint, 0)  # SIG_DFL
        if os.getppid() != parent:  # the parent died before the call: nobody will send the signal
            os._exit(1)

    return hook


_jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_spawner: threading.Thread | None = None
_spawner_lock = threading.Lock()


def _serve() -> None:
    while True:
        job, done = _jobs.get()
        try:
            done.set_result(job())
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            done.set_exception(exc)


def spawn(argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **popen)`` from the console's long-lived spawner thread, with
    the die-with-parent hook.  Raises what Popen raises."""
    global _spawner
    hook = die_with_parent_hook()
    if hook is None:
        return subprocess.Popen(argv, **popen)
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            _spawner = threading.Thread(target=_serve, name="child-spawner", daemon=True)
            _spawner.start()
    done: Future[subprocess.Popen[bytes]] = Future()
    _jobs.put((lambda: subprocess.Popen(argv, preexec_fn=hook, **popen), done))
    return done.result()

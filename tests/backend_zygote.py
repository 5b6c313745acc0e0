"""Test runs of ``sgl-backend`` (and of drill scripts) forked from a process that imported torch and
diffusers once.  For test speed only; what operators run is always exec'd.

Why: every ``sgl-backend`` process spends about 9 s of CPU importing torch, ``torch._dynamo`` (pulled in by
diffusers), transformers and diffusers' eagerly imported model packages before it reads its first flag.
The tests started about fifty of them: on the 2-core CI machine that alone was over four minutes.

What stays real: each run is its own process, forked from a zygote (:mod:`multiprocessing`'s forkserver,
one per test worker) that has imported the embedded model's module and with it torch and diffusers
(``tests.backend_preload``).  The run
then sets its own environment, working directory, standard streams, limits and ignored signals, and runs
its command as the interpreter would (the ``sgl-backend`` console script, ``python -m``, ``-c`` or a
script), importing every module of ours afresh.  Signals, exit codes (``-N`` for a signal death), pipes
and its own workers are those of a real process.

What differs from an exec'd start (covered by every test that launches through the console, which
always execs, and by the tests that start ``backend_command`` with :class:`subprocess.Popen`): the interpreter start-up itself (of the ``PYTHON*`` variables, the
tests' ``PYTHONUNBUFFERED`` is applied here), third-party import-time reads of the environment (the
zygote imports with ``OMP_NUM_THREADS=1``, every backend test's value), and the parent, which is the
zygote: it reaps its children at once, so a test that reads a zombie's status must exec.
"""

from __future__ import annotations

import atexit
import io
import multiprocessing
import multiprocessing.util  # its exit handler is registered first (see _kill_leftovers)
import os
import resource
import runpy
import signal
import subprocess
import sys
import threading
import traceback
from multiprocessing import reduction
from typing import IO, Any

PIPE = subprocess.PIPE
DEVNULL = subprocess.DEVNULL

_CONTEXT: Any = None
_STARTED: list[ForkedProcess] = []
"""Every run forked by this test worker: any still alive when the worker exits is killed first (else
multiprocessing's exit handler would wait for it)."""


@atexit.register  # registered after multiprocessing's own handler, so it runs before it
def _kill_leftovers() -> None:
    for proc in _STARTED:
        if proc.poll() is None:
            proc.kill()


def _context() -> Any:
    """The forkserver context, its zygote preloading ``tests.backend_preload`` (started at first use)."""
    global _CONTEXT
    if _CONTEXT is None:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["tests.backend_preload"])
        _CONTEXT = ctx
    return _CONTEXT


class _InheritedFd:
    """A file descriptor handed to the forked run (sent over the forkserver's socket, as sockets are)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        return _InheritedFd._rebuild, (reduction.DupFd(self.fd),)

    @staticmethod
    def _rebuild(dup: Any) -> int:
        return int(dup.detach())


def _stream(fd: int, write: bool, unbuffered: bool, errors: str) -> IO[str]:
    """``sys.stdout``/``stderr``/``stdin`` as the interpreter makes them for a pipe (``-u`` when asked)."""
    if not write:
        return io.TextIOWrapper(io.BufferedReader(io.FileIO(fd, "r", closefd=False)), encoding="utf-8")
    raw = io.FileIO(fd, "w", closefd=False)
    if unbuffered:
        return io.TextIOWrapper(raw, encoding="utf-8", errors=errors, write_through=True)  # type: ignore[arg-type]
    return io.TextIOWrapper(io.BufferedWriter(raw), encoding="utf-8", errors=errors, line_buffering=fd == 2)


def _become(command: list[str]) -> None:
    """Run ``command`` in this process as the interpreter would: ``python -c CODE``, ``python -m MODULE``,
    ``python SCRIPT`` or a console script (``sgl-backend``), each with the ``sys.argv`` and ``sys.path[0]``
    it would have had."""
    if os.path.realpath(command[0]) == os.path.realpath(sys.executable) and len(command) > 1:
        command = command[1:]
        if command[0] == "-c":
            sys.argv = ["-c", *command[2:]]
            sys.path[0] = ""
            exec(compile(command[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
            return
        if command[0] == "-m":
            sys.argv = [command[1], *command[2:]]
            sys.path[0] = os.getcwd()
            runpy.run_module(command[1], run_name="__main__", alter_sys=True)
            return
    sys.argv = list(command)
    sys.path[0] = os.path.dirname(os.path.abspath(command[0]))
    runpy.run_path(command[0], run_name="__main__")


def _run(command: list[str], cwd: str, env: dict[str, str], fds: tuple[int, int, int],
         rlimits: dict[int, int], ignored: tuple[int, ...]) -> None:
    """In the forked process: become ``command`` in ``cwd`` with ``env``, these streams, limits and
    ignored signals (what a ``preexec_fn`` would set before an exec), then exit with its status."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds):
        if fd > 2:
            os.close(fd)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for sig in ignored:
        signal.signal(sig, signal.SIG_IGN)
    for which, limit in rlimits.items():
        resource.setrlimit(which, (limit, limit))
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    sys.stdin = sys.__stdin__ = _stream(0, False, unbuffered, "strict")
    sys.stdout = sys.__stdout__ = _stream(1, True, unbuffered, "strict")
    sys.stderr = sys.__stderr__ = _stream(2, True, unbuffered, "backslashreplace")
    code: Any = 0
    try:
        _become(command)
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # noqa: BLE001 - what the interpreter does with an uncaught exception
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    try:
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


class ForkedProcess:
    """The part of :class:`subprocess.Popen` the tests use, for a Python command forked from the zygote."""

    def __init__(self, args: list[str], cwd: str | os.PathLike[str], env: dict[str, str], *,
                 stdin: Any = DEVNULL, stdout: Any = PIPE, stderr: Any = PIPE, text: bool = False,
                 rlimits: dict[int, int] | None = None, ignored_signals: tuple[int, ...] = ()) -> None:
        self.args = args
        self.returncode: int | None = None
        ours: list[int] = []
        theirs: list[int] = []

        def end(kind: Any, write: bool) -> tuple[int, IO[Any] | None]:
            if kind == PIPE:
                r, w = os.pipe()
                mine, child = (r, w) if write else (w, r)
                ours.append(mine)
                theirs.append(child)
                mode = ("r" if write else "w") + ("" if text else "b")
                return child, os.fdopen(mine, mode, encoding="utf-8" if text else None)  # as Popen's text mode
            if kind == DEVNULL or kind is None:
                fd = os.open(os.devnull, os.O_RDWR)
                theirs.append(fd)
                return fd, None
            return getattr(kind, "fileno", lambda: kind)(), None  # the caller's open file or descriptor

        in_fd, self.stdin = end(stdin, False)
        out_fd, self.stdout = end(stdout, True)
        err_fd, self.stderr = end(stderr, True)
        self._proc = _context().Process(
            target=_run, args=(list(args), os.fspath(cwd), dict(env),
                               tuple(_InheritedFd(fd) for fd in (in_fd, out_fd, err_fd)), dict(rlimits or {}),
                               tuple(ignored_signals)),
            daemon=False)
        try:
            self._proc.start()
        finally:
            for fd in theirs:
                os.close(fd)
        self.pid: int = self._proc.pid
        _STARTED.append(self)

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._proc.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._proc.join(timeout)
        if self.poll() is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[Any, Any]:
        """Both outputs read to their end while waiting (``Popen.communicate``, without input)."""
        got: dict[int, Any] = {}
        readers = [threading.Thread(target=lambda i=i, s=s: got.__setitem__(i, s.read()), daemon=True)
                   for i, s in enumerate((self.stdout, self.stderr)) if s is not None]
        for reader in readers:
            reader.start()
        self.wait(timeout)
        for reader in readers:
            reader.join(30)
        for stream in (self.stdout, self.stderr):
            if stream is not None:
                stream.close()
        return got.get(0), got.get(1)

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

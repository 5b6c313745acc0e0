"""Run one command as a supervised process group: pipes into the router, full logs on disk,
stop escalation, exit decoding, stall detection.

Why this shape (watchfiles ``CombinedProcess``, uvicorn #2943): the child starts with
``start_new_session=True`` and an explicit ``env=``, so one ``killpg`` reaches the whole
group; descendants are also collected with psutil *before* each signal so a worker that
left the group (``setsid``) is still killed.  Every wait has a timeout.  The child gets
``PR_SET_PDEATHSIG`` (``tui.engine.child``): it dies with us even when we are SIGKILLed.

Readers only move bytes, at pipe speed, so the console never slows the child down: pipe ->
secrets masked (``tui.engine.masking``) -> ``<cache root>/console/runs/<run id>/``
``stdout.log`` / ``stderr.log`` (0600 in 0700 directories) -> optional echo -> the line pump
(``tui.engine.pump``), whose thread splits and parses into the router.  State changes are
posted to the router as :class:`~tui.routed.Event` and passed to an optional callback (from a
supervisor thread: a UI must hand them over to its own thread).

The readers live in :mod:`tui.supervisor_pipes`, the stop escalation in :mod:`tui.supervisor_stop`;
this module starts, watches and reports.

Imports neither textual nor rich.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO, BinaryIO

import psutil

from backend import envs
from tui.engine import proctree
from tui.engine.child import spawn
from tui.engine.exit_status import ExitStatus, decode_exit
from tui.engine.masking import secret_values
from tui.engine.pump import MAX_BACKLOG, LinePump
from tui.engine.run_state import (
    PRIVATE_FILE,
    RunInfo,
    RunState,
    StopPolicy,
    StopProgress,
    SupervisorStatus,
    new_run_id,
    private_run_dir,
)
from tui.lines import MAX_LINE_BYTES
from tui.routed import CONSOLE, STDERR, STDOUT, Event
from tui.router import Router
from tui.supervisor_pipes import copy_pipe, widen_pipe
from tui.supervisor_stop import escalate, total_timeout

__all__ = ["ExitStatus", "RunInfo", "RunState", "StopPolicy", "StopProgress", "Supervisor", "SupervisorStatus",
           "decode_exit"]


class Supervisor:
    """Starts, watches and stops one command at a time (restart runs it again).

    Args:
        router: where output lines and events go.
        cache_root: root of ``console/runs/<run id>/``; default: the resolved ``SGLANG_DIFFUSION_CACHE_ROOT``
            of the child's env.
        stop_policy: escalation timeouts.
        stall_timeout: seconds of no output and no CPU before the state becomes ``stalled``; None = off.
        max_line_bytes: line cap for the router (the logs on disk are whole).
        on_event: called (from a supervisor thread) with every :class:`~tui.routed.Event` also posted to
            the router.
        reap_on_exit: when the main process exits, stop what is left of its tree (group and known
            descendants) with the stop escalation (SIGTERM, SIGKILL).
        poll_interval: seconds between monitor checks (exit, descendants, stall).
        echo: per stream (``stdout``/``stderr``), a binary file the child's (masked) bytes are also
            written to as they arrive (``sgl-console run``); the child then waits on it as on a pipe.
        max_backlog: bytes waiting to be parsed before the oldest are left out of the views.
    """

    def __init__(
        self,
        router: Router,
        *,
        cache_root: str | None = None,
        stop_policy: StopPolicy | None = None,
        stall_timeout: float | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        on_event: Callable[[Event], None] | None = None,
        reap_on_exit: bool = True,
        poll_interval: float = 0.1,
        echo: Mapping[str, BinaryIO] | None = None,
        max_backlog: int = MAX_BACKLOG,
    ) -> None:
        self.router = router
        self.cache_root = cache_root
        self.stop_policy = stop_policy or StopPolicy()
        self.stall_timeout = stall_timeout
        self.max_line_bytes = max_line_bytes
        self.on_event = on_event
        self.reap_on_exit = reap_on_exit
        self.poll_interval = poll_interval
        self.echo = dict(echo or {})
        self._lock = threading.RLock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._run: RunInfo | None = None
        self._state = RunState.IDLE
        self._exit: ExitStatus | None = None
        self._stop: StopProgress | None = None
        self._error: str | None = None
        self._known: dict[int, psutil.Process] = {}
        self._readers: list[threading.Thread] = []
        self._monitor: threading.Thread | None = None
        self._exited = threading.Event()
        self._stop_lock = threading.Lock()
        self._stall_since: float | None = None
        self._argv: tuple[str, ...] = ()
        self._env: dict[str, str] = {}
        self._cwd: str | None = None
        self._secrets: list[str] = []
        self._route_failed = False
        self.last_bytes_at: float | None = None
        """``time.monotonic()`` when a reader last got bytes (stall detection: parsing may lag)."""
        self.pump = LinePump(self._route, self._end_stream, self._skipped, max_line_bytes, max_backlog)

    # ---- properties ------------------------------------------------------------------------
    @property
    def state(self) -> RunState:
        return self._state

    @property
    def pid(self) -> int | None:
        return self._run.pid if self._run else None

    @property
    def run(self) -> RunInfo | None:
        return self._run

    @property
    def exit_status(self) -> ExitStatus | None:
        return self._exit

    @property
    def stop_progress(self) -> StopProgress | None:
        return self._stop

    @property
    def running(self) -> bool:
        return self._state in (RunState.RUNNING, RunState.STALLED, RunState.STOPPING)

    @property
    def secrets(self) -> list[str]:
        """The run's secret values (masked in its output), longest first."""
        return list(self._secrets)

    def status(self) -> SupervisorStatus:
        stalled = None
        if self._state == RunState.STALLED and self._stall_since is not None:
            stalled = time.monotonic() - self._stall_since
        return SupervisorStatus(self._state, self._run, self._exit, self._stop, stalled, self._error)

    def known_pids(self) -> set[int]:
        """Every pid seen in the process tree during this run (live or not): for ``%i`` log files."""
        with self._lock:
            return set(self._known)

    def forget_pids(self) -> None:
        """Drop the previous run's pids (a tailer started before the next child must not take
        that run's ``%i`` files for this one's)."""
        with self._lock:
            self._known = {}

    # ---- start -------------------------------------------------------------------------------

    def start(self, argv: Sequence[str], env: Mapping[str, str], cwd: str | None = None,
              run_id: str | None = None) -> RunInfo:
        """Start ``argv`` with exactly ``env`` in a new session / process group.

        Raises:
            RuntimeError: a run is still in progress (stop it first, or :meth:`restart`).
            OSError: the command could not be started (state becomes ``failed``).
        """
        try:
            return self._start(argv, env, cwd, run_id)
        except OSError as exc:
            if self._state != RunState.FAILED:  # e.g. the run directory could not be created
                self._state = RunState.FAILED
                self._error = f"cannot start: {exc.strerror or exc}"
            self._emit("error", self._error or "cannot start")  # outside the lock: callbacks may block
            raise

    def _start(self, argv: Sequence[str], env: Mapping[str, str], cwd: str | None, run_id: str | None) -> RunInfo:
        with self._lock:
            if self.running:
                raise RuntimeError("a run is in progress; stop it first")
            self._join_threads(1.0)
            argv = tuple(str(a) for a in argv)
            if not argv:
                raise ValueError("empty command line")
            self._argv, self._env, self._cwd = argv, dict(env), cwd
            self._secrets = secret_values(env)
            rid = run_id or new_run_id()
            run_dir = private_run_dir(self.cache_root or envs.cache_root(env), rid)
            self._exit = None
            self._stop = None
            self._error = None
            self._stall_since = None
            self._exited.clear()
            self._known = {}
            logs = {STDOUT: str(run_dir / "stdout.log"), STDERR: str(run_dir / "stderr.log")}
            sinks = {s: os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE) for s, path in logs.items()}
            try:
                proc = spawn(
                    list(argv), env=dict(env), cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, start_new_session=True, close_fds=True, bufsize=0,
                )
            except OSError as exc:
                for fd in sinks.values():
                    os.close(fd)
                self._state = RunState.FAILED
                self._error = f"cannot start {argv[0]}: {exc.strerror or exc}"
                raise
            self._proc = proc
            info = RunInfo(rid, proc.pid, argv, str(run_dir), time.time(), logs[STDOUT], logs[STDERR])
            self._run = info
            me = proctree.proc(proc.pid)
            if me is not None:
                self._known[proc.pid] = me
            self._state = RunState.RUNNING
            self.last_bytes_at = time.monotonic()
            self._route_failed = False
            assert proc.stdout is not None and proc.stderr is not None
            self._readers = []
            for stream, pipe in ((STDOUT, proc.stdout), (STDERR, proc.stderr)):
                widen_pipe(pipe.fileno())
                self.pump.open(stream)
                self._readers.append(threading.Thread(
                    target=self._read, args=(pipe, stream, sinks[stream]), name=f"sv-read-{stream}-{proc.pid}",
                    daemon=True))
            for t in self._readers:
                t.start()
            self._monitor = threading.Thread(target=self._watch, args=(proc,), name=f"sv-mon-{proc.pid}",
                                             daemon=True)
            self._monitor.start()
        self._emit("started", f"started pid {info.pid}: run {rid}", info)
        return info

    def restart(self, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
                cwd: str | None = None) -> RunInfo:
        """Stop the current run (full escalation) and start again (same command/env unless given)."""
        if self.running:
            self.stop()
        self.router.reset_run()
        return self.start(argv if argv is not None else self._argv,
                          env if env is not None else self._env, cwd if cwd is not None else self._cwd)

    # ---- threads -----------------------------------------------------------------------------

    def _read(self, pipe: IO[bytes], stream: str, log_fd: int) -> None:
        """A reader thread (:func:`tui.supervisor_pipes.copy_pipe`): bytes only, never parsing."""
        copy_pipe(pipe, stream, log_fd, secrets=self._secrets, echo=self.echo.get(stream), push=self.pump.push,
                  close_stream=self.pump.close_stream, got_bytes=self._got_bytes)

    def _got_bytes(self) -> None:
        """Stall detection's clock: bytes arrived (parsing may lag behind)."""
        self.last_bytes_at = time.monotonic()

    def _route(self, stream: str, lines: list[tuple[str, bool, bool]]) -> None:
        """Hand lines to the router (pump thread); a parser bug is reported once as an ``error``
        event and the raw lines still go through unparsed."""
        try:
            self.router.feed(stream, lines)
        except Exception as exc:  # noqa: BLE001 - the pump must survive anything
            if not self._route_failed:
                self._route_failed = True
                self._emit("error", f"could not parse {stream} output: {exc.__class__.__name__}: {exc}")
            self.router.feed(CONSOLE, [text for text, _, _ in lines])

    def _end_stream(self, stream: str) -> None:
        try:
            self.router.end_stream(stream)
        except Exception as exc:  # noqa: BLE001 - a parser surprise must not hide the exit
            self._emit("error", f"could not finish parsing {stream}: {exc.__class__.__name__}: {exc}")

    def _skipped(self, stream: str, nbytes: int) -> None:
        self.router.skip(stream, nbytes)

    def _refresh_tree(self, pid: int) -> list[psutil.Process]:
        found = proctree.descendants(pid)
        with self._lock:
            for p in found:
                self._known.setdefault(p.pid, p)
            return list(self._known.values())

    def _watch(self, proc: subprocess.Popen[bytes]) -> None:
        """The monitor thread: whatever goes wrong while watching (a psutil or parser surprise),
        the exit is still waited for, recorded and reported, so the UI never shows a dead child
        as running."""
        try:
            self._watch_run(proc)
        except Exception as exc:  # noqa: BLE001 - the monitor must always report the exit
            self._emit("error", f"process monitor failed: {exc.__class__.__name__}: {exc}")
            if self._state in (RunState.EXITED,):
                return
            try:
                rc = proc.wait()
            except Exception:  # noqa: BLE001
                rc = proc.returncode if proc.returncode is not None else -1
            status = decode_exit(rc, self._argv)
            with self._lock:
                self._exit = status
                self._state = RunState.EXITED
            self._exited.set()
            self._emit("exited", status.description, status)

    def _watch_run(self, proc: subprocess.Popen[bytes]) -> None:
        exit_wait = proctree.ExitWait(proc)
        try:
            rc = self._watch_tree(proc, exit_wait)
        finally:
            exit_wait.close()
        status = decode_exit(rc, self._argv)
        leftovers: list[psutil.Process] = []
        if self.reap_on_exit:
            # What is left of the tree gets SIGTERM now (it may hold our pipes open); the rest of
            # the escalation runs after the exit is reported, so the crash view opens at once.
            leftovers = [p for p in self._refresh_tree(proc.pid) if p.pid != proc.pid and proctree.alive(p)]
            leftovers += [p for p in proctree.group_members(proc.pid) if p.pid != proc.pid and proctree.alive(p)]
            if leftovers:
                proctree.killpg(proc.pid, signal.SIGTERM)
                proctree.signal_procs(leftovers, signal.SIGTERM)
        deadline = time.monotonic() + 0.5
        for t in self._readers:
            t.join(timeout=max(0.05, deadline - time.monotonic()))  # never wait for ever on a held pipe
        # The pump parses at most its end-of-stream backlog after EOF: the exit follows the last lines.
        self.pump.wait_done(timeout=0.8)
        with self._lock:
            self._exit = status
            self._state = RunState.EXITED
            if self._stop is not None:
                self._stop = StopProgress("done", time.monotonic(), None, None)
        self._exited.set()
        self._emit("exited", status.description, status)
        if leftovers:
            self._terminate(leftovers, proc.pid, first=signal.SIGTERM)

    def _watch_tree(self, proc: subprocess.Popen[bytes], exit_wait: proctree.ExitWait) -> int:
        """Until the child exits (its code): the tree every 0.5 s for the stall check."""
        last_cpu = -1.0
        quiet_since = time.monotonic()
        next_tree = 0.0
        while True:
            rc = exit_wait.wait(self.poll_interval)
            if rc is not None:
                return rc
            now = time.monotonic()
            if now < next_tree:
                continue
            next_tree = now + 0.5
            procs = self._refresh_tree(proc.pid)
            if self.stall_timeout is None or self._state == RunState.STOPPING:
                continue
            cpu = proctree.tree_cpu_seconds(p for p in procs if proctree.alive(p))
            last_bytes = self.last_bytes_at or 0.0
            if cpu - last_cpu > 0.02 or last_bytes > quiet_since:
                last_cpu = cpu
                quiet_since = now
                if self._state == RunState.STALLED:
                    self._state = RunState.RUNNING
                    self._stall_since = None
                    self._emit("resumed", "output or CPU resumed")
            elif now - quiet_since >= self.stall_timeout and self._state == RunState.RUNNING:
                self._state = RunState.STALLED
                self._stall_since = quiet_since
                self._emit("stalled", f"stalled: no output and no CPU for {now - quiet_since:.1f} s",
                           now - quiet_since)

    def _join_threads(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in [*self._readers, *([self._monitor] if self._monitor else [])]:
            if t is not threading.current_thread():
                t.join(timeout=max(0.0, deadline - time.monotonic()))

    # ---- stop --------------------------------------------------------------------------------

    def stop(self, policy: StopPolicy | None = None) -> ExitStatus | None:
        """Stop the whole tree: SIGINT, wait, SIGTERM, wait, SIGKILL, wait (each bounded).

        Blocks for at most the sum of the policy's timeouts plus a second; run it in a worker
        thread from a UI (or use :meth:`stop_in_background`).  Progress is posted as ``stopping``
        events with :class:`StopProgress` data.  Returns the exit status (None if the main process
        somehow survived SIGKILL's wait).
        """
        proc = self._proc
        if proc is None or not self.running:
            return self._exit
        if not self._stop_lock.acquire(timeout=0.1):
            self._exited.wait(total_timeout(policy or self.stop_policy))
            return self._exit
        try:
            with self._lock:
                self._state = RunState.STOPPING
            procs = [p for p in self._refresh_tree(proc.pid) if proctree.alive(p)]
            pol = policy or self.stop_policy
            first = signal.SIGINT if pol.send_sigint else signal.SIGTERM
            self._terminate(procs, proc.pid, first=first, policy=pol, main=proc)
            self._exited.wait(2.0)
            return self._exit
        finally:
            self._stop_lock.release()

    def stop_in_background(self, policy: StopPolicy | None = None) -> threading.Thread:
        """:meth:`stop` in a daemon thread (returned); follow it through the events."""
        t = threading.Thread(target=self.stop, args=(policy,), name="sv-stop", daemon=True)
        t.start()
        return t

    def _terminate(self, procs: list[psutil.Process], pgid: int, first: int,
                   policy: StopPolicy | None = None, main: subprocess.Popen[bytes] | None = None) -> None:
        """The escalation (:func:`tui.supervisor_stop.escalate`); steps are posted while the main process runs."""
        def step(progress: StopProgress) -> None:
            if main is not None:  # the clean-up of leftovers after the exit leaves the stop "done"
                self._stop = progress
                self._emit("stopping", progress.text(), progress)

        escalate(procs, pgid, first, policy or self.stop_policy, exited=self._exited, on_step=step, main=main,
                 refresh=self._refresh_tree)

    # ---- events ------------------------------------------------------------------------------

    def _emit(self, kind: str, text: str, data: object = None) -> None:
        event = Event(kind, text, data)
        self.router.post(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # a UI callback must never kill the monitor
                pass

    def wait(self, timeout: float) -> ExitStatus | None:
        """Wait (bounded) for the run to end; returns its status or None on timeout."""
        if self._proc is None:
            return self._exit
        self._exited.wait(timeout)
        return self._exit

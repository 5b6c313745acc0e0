"""The lifecycle of one run, shared by the TUI and ``sgl-console run``.

plan -> supervisor (child in its own session, bytes to disk and to the line pump) -> router
(parsed records) -> this module's dispatcher thread -> :class:`~tui.engine.events.EngineEvent`
to the face's sink; plus the followed files (tailer), the process monitor, the crash analysis
and the run history (the router keeps it).

Why a dispatcher thread with credits: the face gets a batch as soon as something arrives
(a quiet line reaches the screen in the next frame), at most one batch per ``frame`` under
flood, and never more than ``max_in_flight`` batches it has not acknowledged (:meth:`ack`):
a slow face makes batches larger (bounded by the router's ring, which then drops and says so),
never makes the child wait.  Imports neither textual nor rich.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from tui.engine.events import EngineEvent, EventKind, KernelUpdate, TimingsUpdate
from tui.engine.gc_pacing import GcPacing
from tui.engine.input_first import InputFirst
from tui.engine.masking import mask_text, secret_values, shown_command
from tui.routed import CONSOLE, Batch, Event
from tui.router import Router
from tui.supervisor import RunInfo, RunState, StopPolicy, Supervisor

Sink = Callable[[EngineEvent], object]

_LIFECYCLE_KINDS = {"started": EventKind.STARTED, "stopping": EventKind.STOPPING, "stalled": EventKind.STALLED,
                    "resumed": EventKind.RESUMED, "error": EventKind.ERROR, "exited": EventKind.EXITED}
_HISTORY_KINDS = ("started", "stopping", "stalled", "resumed", "exited", "error")
"""Lifecycle events also written into the output as ``── kind: text`` (the run's history)."""
MAX_KERNEL_BATCH = 200
"""Kernel API calls listed per update (800 a second); more in one slow-lane period are counted in
the totals, not listed: a view that lists them one by one stays responsive under a flood."""
MAX_LINES_BATCH = 2000
"""Output lines per batch (120k a second at 60 batches): under a flood only the newest are
shown, the rest are counted (``SAMPLED``); the run log on disk has every line."""
QUIET_LINES = 64
QUIET_CALLS = 16
"""A batch this small is no flood: its kernel API calls and timings go out at once, not paced."""


class RunEngine:
    """One run at a time (a restart stops the previous one first).

    Args:
        sink: receives every event, from the engine's threads (a UI hands it to its own loop).
        stop_policy: the stop escalation (SIGINT, SIGTERM, SIGKILL timeouts).
        stall_timeout: seconds without output and CPU before a run counts as stalled; None: off.
        cache_root: where ``console/runs/<id>`` go (default: the child env's cache root).
        echo: ``{"stdout": binary file, "stderr": ...}``: the child's masked bytes as they come.
        sample_processes: send ``PROCESS`` snapshots about once a second.
        report_stalls: a stall sends a ``CRASH`` report at once (the TUI opens it); either way
            the report at exit says the run stalled.
        frame: least seconds between two batches while output floods (idle: no wait at all);
            1/20: at 60 batches a second a flood kept the UI thread busy and a key waited behind it.
        slow_interval: least seconds between kernel API / timings updates while a run streams.
        max_in_flight: batches sent and not acknowledged before the engine holds the next.
        perf_fallback: ``performance.log`` directory when ``SGLANG_PERF_LOG_DIR`` is unset.
        exit_parse_wait: longest the exit waits, beyond the supervisor's 0.8 s, for the last lines to be
            parsed before the report (0 for a screen, which must not wait behind a flood; a headless face
            that prints one summary waits, so a loaded host does not cut its stages off).
    """

    def __init__(self, sink: Sink, *, stop_policy: StopPolicy | None = None, stall_timeout: float | None = None,
                 cache_root: str | None = None, echo: Mapping[str, Any] | None = None,
                 sample_processes: bool = True, report_stalls: bool = True, frame: float = 1 / 20,
                 slow_interval: float = 0.25, max_in_flight: int = 2, perf_fallback: str | None = None,
                 exit_parse_wait: float = 0.0) -> None:
        self.listeners: list[Sink] = [sink]
        self.router = Router()
        self.supervisor = Supervisor(self.router, cache_root=cache_root, stop_policy=stop_policy,
                                     stall_timeout=stall_timeout, echo=echo)
        self.input_first = InputFirst()
        """Held by the face while it answers a key: parsing and dispatch wait (see ``input_first``)."""
        self.supervisor.pump.before_chunk = self.input_first.wait
        self.gc_pacing = GcPacing()
        """Short collector passes while a run streams; one full pass once it is over (``gc_pacing``)."""
        self.sample_processes = sample_processes
        self.report_stalls = report_stalls
        self.frame = frame
        self.slow_interval = slow_interval
        self.max_in_flight = max_in_flight
        self.perf_fallback = perf_fallback
        self.exit_parse_wait = exit_parse_wait
        self.plan: Any = None
        self.last_exit: Any = None
        self.last_report: Any = None
        self.report_paths: tuple[str, str] | None = None
        """``crash_report.txt`` / ``.json`` of the last report, in the run directory."""
        self._finished_run = threading.Event()
        self._tailer: Any = None
        self._start_lock = threading.Lock()
        self._wake = threading.Event()
        self._credit = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._requested_stop = False
        self._stalled_for: float | None = None
        self._thread: threading.Thread | None = None
        self._dispatch_lock = threading.Lock()
        self._credits_off = False
        self._reset_lanes()
        self.router.on_change = self._wake.set

    # ---- the face's side ----------------------------------------------------------------------
    def add_listener(self, listener: Sink) -> None:
        """Another receiver of every event (``sgl-console run --events``, tests)."""
        self.listeners.append(listener)

    @property
    def running(self) -> bool:
        return self.supervisor.running

    def start(self, plan: Any, restart: bool = False) -> RunInfo:
        """Start ``plan`` (a ``tui.launch.LaunchPlan``); blocks while a previous run stops.

        Raises:
            RuntimeError: a run is in progress and ``restart`` is False.
            OSError: the command could not be started (an ``ERROR`` event says so too).
        """
        with self._start_lock:
            if self.supervisor.running:
                if not restart:
                    raise RuntimeError("a run is in progress; stop it first")
                self.stop()
            self._stop_tailer()
            self._ensure_thread()
            with self._dispatch_lock:  # the previous run's last dispatch (its crash report) is done
                self.router.reset_run()
                self._reset_lanes()
                self.plan, self.last_exit, self.last_report, self.report_paths = plan, None, None, None
                self._finished_run.clear()
                self._requested_stop, self._stalled_for = False, None
            secrets = secret_values(plan.env)
            notes = [f"── run: {shown_command(plan)}", *(f"   {t}" for t in plan.translations)]
            self.router.feed(CONSOLE, [mask_text(n, secrets) for n in notes])
            self.supervisor.forget_pids()
            self._follow(plan.env)  # before the child: its first lines and a fast exit find a tailer
            try:
                info = self.supervisor.start(plan.argv, plan.env)
            except BaseException:
                self._stop_tailer()
                raise
            if self.sample_processes:
                threading.Thread(target=self._sample, args=(info.pid,), name="procmon", daemon=True).start()
            return info

    def stop(self, policy: StopPolicy | None = None) -> Any:
        """Stop the run (the escalation); an exit caused by this is not a crash."""
        self._requested_stop = True
        return self.supervisor.stop(policy)

    def stop_in_background(self, policy: StopPolicy | None = None) -> threading.Thread:
        t = threading.Thread(target=self.stop, args=(policy,), name="engine-stop", daemon=True)
        t.start()
        return t

    def ack(self) -> None:
        """The face has handled one batch (``LINES``, ``KERNEL`` or ``TIMINGS``)."""
        with self._credit:
            self._in_flight = max(0, self._in_flight - 1)
            self._credit.notify_all()

    def close(self, timeout: float = 1.0) -> None:
        """Stop following files and the dispatcher (the run itself: :meth:`stop` first)."""
        self._stop_tailer()
        self._closed = True
        self._wake.set()
        with self._credit:
            self._credit.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.supervisor.pump.close()

    def dispatch_now(self) -> None:
        """Send everything received so far, every lane, from the caller's thread and without
        waiting for acknowledgements (demo scenes and screenshots fill the views this way)."""
        self._ensure_thread()
        with self._dispatch_lock:
            self._credits_off = True
            try:
                self._dispatch(self.router.drain())
                self._flush_slow_lane()
            finally:
                self._credits_off = False

    def wait_finished(self, timeout: float) -> bool:
        """Wait (bounded) until the run's exit, last output and crash report were all sent."""
        return self._finished_run.wait(timeout)

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait (bounded) until everything received so far was sent to the sink (the CLI's end)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.supervisor.pump.wait_idle(0.05) and not self._wake.is_set() and not self._busy:
                return True
            time.sleep(0.01)
        return False

    # ---- internals ----------------------------------------------------------------------------
    def _reset_lanes(self) -> None:
        self._calls: deque[tuple[str, Any]] = deque(maxlen=MAX_KERNEL_BATCH)
        self._calls_seen = 0
        self._totals: tuple[dict[str, int], int, int] = ({}, 0, 0)
        self._finished: list[Any] = []
        self._current: Any = None
        self._timings_changed = False
        self._slow_at = 0.0
        self._sampled_lines = 0
        self._sampled_bytes = 0
        self._sampled_at = 0.0
        self._busy = False

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._closed = False
            self._thread = threading.Thread(target=self._loop, name="engine-dispatch", daemon=True)
            self._thread.start()

    def _emit(self, kind: EventKind, text: str = "", data: Any = None) -> None:
        event = EngineEvent(kind, text, data)
        for listener in list(self.listeners):
            try:
                listener(event)
            except Exception:  # noqa: BLE001, S110 - a face's bug must never stop the engine
                pass

    def _emit_batch(self, kind: EventKind, data: Any) -> None:
        """A batch costs one credit: wait (bounded) for the face to catch up first."""
        with self._credit:
            if self._credits_off:
                pass
            elif not self._credit.wait_for(lambda: self._in_flight < self.max_in_flight or self._closed, 1.0):
                self._in_flight = 0  # a face that stopped acknowledging (closing) must not freeze us
            self._in_flight += 1
        self._emit(kind, "", data)

    def _follow(self, env: Mapping[str, str]) -> None:
        from tui.launch import followed_files
        from tui.tail import Tailer

        files = followed_files(env, perf_fallback=self.perf_fallback)
        if not files:
            return
        tailer = Tailer(self.router, pids=self.supervisor.known_pids, before_read=self.input_first.wait)
        for pattern, _kind in files:
            tailer.add(pattern)
        tailer.start()
        self._tailer = tailer

    def _stop_tailer(self) -> None:
        tailer, self._tailer = self._tailer, None
        if tailer is not None:
            tailer.stop(timeout=1.0)

    def _sample(self, pid: int) -> None:
        """Process-tree snapshots once a second while the run lives, and one after."""
        from tui.procmon import ProcessMonitor

        sv = self.supervisor
        monitor = ProcessMonitor(pid, extra_pids=sv.known_pids)
        while not self._closed:
            self._emit(EventKind.PROCESS, "", monitor.snapshot())
            if not sv.running or sv.pid != pid:
                break
            sv.wait(1.0)

    def _loop(self) -> None:
        last = 0.0
        while not self._closed:
            woke = self._wake.wait(0.25)
            if self._closed:
                break
            if not woke and not self.supervisor.running:  # never beside a child: it would share the cores
                self.gc_pacing.idle()
            gap = time.monotonic() - last
            if woke and gap < self.frame:
                time.sleep(self.frame - gap)  # coalescing, only when batches follow each other
            self.input_first.wait()
            self._wake.clear()
            self._busy = True
            try:
                with self._dispatch_lock:
                    self._dispatch(self.router.drain())
            except Exception as exc:  # noqa: BLE001 - report, keep dispatching
                self._emit(EventKind.ERROR, f"engine: {exc.__class__.__name__}: {exc}")
            finally:
                self._busy = False
            last = time.monotonic()
            sv = self.supervisor
            if sv.running:
                self.gc_pacing.tick()
            if sv.state == RunState.STOPPING and sv.stop_progress is not None:
                self._emit(EventKind.STOPPING, sv.stop_progress.text(), sv.stop_progress)  # countdown

    def _dispatch(self, batch: Batch) -> None:
        lines = batch.lines
        if len(lines) > MAX_LINES_BATCH:
            self._sampled_lines += len(lines) - MAX_LINES_BATCH
            lines = lines[-MAX_LINES_BATCH:]
        self._note_sampled(batch)
        if lines:
            self._emit_batch(EventKind.LINES, lines)
        if batch.kernel_calls:
            self._calls.extend(batch.kernel_calls)
            self._calls_seen += len(batch.kernel_calls)
            self._totals = (batch.api_counts, batch.nan_total, batch.inf_total)
        if batch.timings_changed or batch.finished_requests:
            self._finished.extend(batch.finished_requests)
            self._current = batch.current if batch.current is not None else self._current
            self._timings_changed = True
        ending = any(e.kind in ("exited", "stalled") for e in batch.events)
        # Pace the kernel API and timings views only under flood: a quiet call is shown in this frame.
        quiet = len(batch.lines) <= QUIET_LINES and len(batch.kernel_calls) <= QUIET_CALLS
        if ending or quiet or time.monotonic() - self._slow_at >= self.slow_interval:
            self._flush_slow_lane()
        for path in batch.outputs:
            self._emit(EventKind.OUTPUT, path, path)
        for path, url in batch.uploads:
            self._emit(EventKind.UPLOAD, f"{path} -> {url}", (path, url))
        for event in batch.events:
            self._lifecycle(event)

    def _flush_slow_lane(self) -> None:
        self._slow_at = time.monotonic()
        if self._calls:
            listed = tuple(self._calls)
            skipped = self._calls_seen - len(listed)
            self._calls.clear()
            self._calls_seen = 0
            self._emit_batch(EventKind.KERNEL, KernelUpdate(listed, dict(self._totals[0]), self._totals[1],
                                                            self._totals[2], skipped, self._worker_labels(listed)))
        if self._timings_changed:
            finished, self._finished = tuple(self._finished), []
            self._timings_changed = False
            self._emit_batch(EventKind.TIMINGS, TimingsUpdate(finished, self._current, self._rank_labels()))

    def _rank_labels(self) -> dict[int, str]:
        """``worker R (pid P, DEVICE)`` per rank of a ``--num-workers`` run (empty for any other run)."""
        return {w["rank"]: f"worker {w['rank']} (pid {w.get('pid', '?')}, {w.get('device') or 'device not logged'})"
                for w in self.router.workers()}

    def _worker_labels(self, calls: tuple[tuple[str, Any], ...]) -> dict[str, str]:
        """The worker label for each stream of ``calls`` that is a known worker's own log."""
        ranks = {w["pid"]: w["rank"] for w in self.router.workers() if w.get("pid") is not None}
        if not ranks:
            return {}
        from tui.crash_calls import pid_from_name

        labels = self._rank_labels()
        return {stream: labels[ranks[pid]] for stream in {stream for stream, _ in calls}
                if (pid := pid_from_name(stream.removeprefix("file:"))) in ranks}

    def _note_sampled(self, batch: Batch) -> None:
        self._sampled_lines += batch.dropped
        self._sampled_bytes += batch.skipped_bytes
        now = time.monotonic()
        if (self._sampled_lines or self._sampled_bytes) and now - self._sampled_at >= 1.0:
            run = self.supervisor.run
            parts = []
            if self._sampled_bytes:
                parts.append(f"{self._sampled_bytes} bytes not parsed")
            if self._sampled_lines:
                parts.append(f"{self._sampled_lines} lines not listed")
            where = f"; the full log is in {run.run_dir}" if run is not None else ""
            text = f"output faster than the console reads it: sampled ({', '.join(parts)}){where}"
            self._emit(EventKind.SAMPLED, text, self._sampled_lines + self._sampled_bytes)
            self._sampled_lines = self._sampled_bytes = 0
            self._sampled_at = now

    def _lifecycle(self, event: Event) -> None:
        kind = _LIFECYCLE_KINDS.get(event.kind)
        if kind is None:
            return
        if event.kind in _HISTORY_KINDS:
            self.router.feed(CONSOLE, [f"── {event.kind}: {event.text}"])  # the history stays in the output
        if kind is EventKind.STALLED:
            self._stalled_for = float(event.data or 0.0)
            self._emit(kind, event.text, event.data)
            if self.report_stalls:
                self._report(None)
            return
        if kind is EventKind.EXITED:
            self._on_exit(event)
            return
        self._emit(kind, event.text, event.data)

    def _on_exit(self, event: Event) -> None:
        """Files read to their end, the output's last batch, then the exit, then the report."""
        try:
            try:
                if self.exit_parse_wait:
                    self.supervisor.pump.wait_done(self.exit_parse_wait)
                self._stop_tailer()
                self._dispatch_output(self.router.drain())
            except Exception as exc:  # noqa: BLE001 - the exit must be told whatever happened before
                self._emit(EventKind.ERROR, f"engine: {exc.__class__.__name__}: {exc}")
            self.last_exit = status = event.data
            self._emit(EventKind.EXITED, event.text, status)
            abnormal = status is not None and not status.ok and not self._requested_stop
            stall_unreported = self._stalled_for is not None and not self.report_stalls  # else sent at the stall
            if abnormal or stall_unreported:
                self._report(status)
        finally:
            self.gc_pacing.ended()
            self._finished_run.set()

    def _dispatch_output(self, batch: Batch) -> None:
        """Like :meth:`_dispatch` for what the exit flushed, with every lane emptied now."""
        events = batch.events
        self._dispatch(replace(batch, events=()))
        self._flush_slow_lane()
        for event in events:  # e.g. an error reported while the files were flushed
            if event.kind != "exited":
                self._lifecycle(event)

    def _report(self, status: Any) -> None:
        from tui import crash
        from tui.launch import dump_roots

        sv = self.supervisor
        plan = self.plan
        env = plan.env if plan is not None else {}
        run_dir = sv.run.run_dir if sv.run is not None else None
        try:
            report = crash.analyze_router(
                self.router, status, stalled_for=self._stalled_for,
                dump_roots=dump_roots(env, sorted(sv.known_pids())),
                command=shown_command(plan) if plan is not None else None, run_dir=run_dir,
            )
        except Exception as exc:  # noqa: BLE001 - the report must never take the console down
            self._emit(EventKind.ERROR, f"crash analysis failed: {exc.__class__.__name__}: {exc}")
            return
        if run_dir is not None:
            try:
                self.report_paths = report.write(run_dir)
                for path in self.report_paths:
                    os.chmod(path, 0o600)
            except OSError as exc:
                self._emit(EventKind.ERROR, f"cannot write the crash report: {exc}")
        self.last_report = report
        self._emit(EventKind.CRASH, report.headline(), report)

"""The run engine's third face: an engine fed by files and a pid instead of a child it started.

Why a subclass of :class:`tui.engine.run.RunEngine`: the dispatcher (batches, slow lane,
acknowledgements), the router and the crash analysis are the same as for a launched run, so the
TUI's views and crash screen work unchanged.  What differs: the lines come from the followed
files only, the process is watched in the process table, its exit status comes from its zombie
entry or the log (``tui.attach``), and "stop" detaches: a console never signals a process it
did not start.  Imports neither textual nor rich.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from tui.attach import AttachedProcess, build_report, follow_logs, read_dev_endpoints
from tui.engine.events import EventKind
from tui.engine.run import RunEngine, Sink


class AttachEngine(RunEngine):
    """Watches ``pid`` and follows ``logs``; events as a launched run's (``STARTED`` ... ``CRASH``)."""

    def __init__(self, sink: Sink, pid: int, logs: Sequence[str] = (), dump_dirs: Sequence[str] = (),
                 url: str | None = None, **options: Any) -> None:
        super().__init__(sink, **options)
        self.proc = AttachedProcess(pid)  # psutil.NoSuchProcess: the caller says so
        self.logs = list(logs)
        self.dump_dirs = list(dump_dirs)
        self.url = url
        self.dev: Any = None
        """The last answers of the dev endpoints (``tui.attach.DevSnapshot``), when ``url`` is given."""
        self._detached = threading.Event()

    @property
    def running(self) -> bool:
        return not self.proc.gone.is_set() and not self._detached.is_set()

    def start(self, plan: Any, restart: bool = False) -> Any:
        raise RuntimeError("attached to a backend this console did not start: it cannot launch another "
                           "from here (start the console without 'attach' to run one)")

    def attach(self) -> None:
        """Start following and watching (call once the face is ready for events)."""
        self._ensure_thread()
        self._tailer = follow_logs(self.router, self.logs, self.proc.known_pids, before_read=self.input_first.wait)
        command = " ".join(self.proc.cmdline) or self.proc.name
        self._emit(EventKind.STARTED, f"attached to pid {self.proc.pid}: {command}", None)
        threading.Thread(target=self._watch, name="attach-watch", daemon=True).start()

    def stop(self, policy: Any = None) -> Any:
        """Detach: stop following and watching; the process is left alone."""
        self._detached.set()
        self._stop_tailer()
        return None

    def _watch(self) -> None:
        from tui.procmon import ProcessMonitor

        monitor = ProcessMonitor(self.proc.pid, extra_pids=self.proc.known_pids)
        while not self._detached.is_set() and not self._closed:
            self._emit(EventKind.PROCESS, "", monitor.snapshot())
            if self.url:
                latest = read_dev_endpoints(self.url)
                self.dev = latest if latest.answers or self.dev is None else self.dev
            if self.proc.wait(timeout=1.0):
                break
        if self._detached.is_set() or self._closed:
            return
        self._emit(EventKind.PROCESS, "", monitor.snapshot())
        self._stop_tailer()  # the files read to their end before the report
        self._dispatch_output(self.router.drain())
        report, status = build_report(self.router, self.proc, self.dump_dirs, " ".join(self.proc.cmdline))
        self.last_exit = status
        self._emit(EventKind.EXITED, report.how, status)
        self.last_report = report
        if status is None or not status.ok:
            self._emit(EventKind.CRASH, report.headline(), report)
        self._finished_run.set()


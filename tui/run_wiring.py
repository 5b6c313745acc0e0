"""The running half of the console app: the run engine's face in the TUI.

Why a base class of ``ConsoleApp``: ``app.py`` stays wiring (layout, bindings, the session's
actions); everything about a run lives here: plan, start/stop/restart, the engine's
:class:`~tui.messages.RunEvent` messages to the views, the crash screen, and leaving (stop
first; SIGTERM/SIGHUP stop the run with the escalation).  The engine (``tui.engine``) is the
same one ``sgl-console run`` uses.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Mapping
from typing import Any

from textual import events, work
from textual.app import App

from backend import envs
from tui.engine.masking import shown_command
from tui.messages import RunEvent
from tui.widgets.run_bar import RunBar
from tui.widgets.session_header import SessionHeader

EXIT_GRACE_S = 3.0
"""How long a stop signal leaves the app to exit cleanly before the process leaves by itself."""


class RunningApp(App[int]):
    """Run actions and the engine's events (``ConsoleApp`` adds layout and the session)."""

    environ: dict[str, str]
    session: Any
    stop_policy: Any
    stall_timeout: float | None
    host_platforms: frozenset[str]
    _views: Any = None
    _engine: Any = None
    _last_plan: Any = None
    _last_request: dict[str, Any] | None = None
    _last_exit: Any = None
    _crash: tuple[str, str] | None = None

    def invalid_fields(self) -> dict[str, str]:  # pragma: no cover - ConsoleApp's
        raise NotImplementedError

    @property
    def settled(self) -> bool:
        """True once the visible pane and the live views are mounted (tests wait for it)."""
        return self._views is not None

    @property
    def views(self) -> Any:
        """The live views by name (``output``, ``timings``, ``kernel``, ``process``, ``image``,
        ``attention``); None until they are mounted, just after the first frame."""
        return self._views

    def _main_query(self, selector: Any, expect_type: Any = None) -> Any:
        """``query_one`` on the main screen.  ``App.query_one`` searches the *active* screen, so
        while a modal (diff, crash report, load) is open it would not find the header or the run
        bar, and an exit arriving then would be lost."""
        main = self.screen_stack[0] if self.screen_stack else self.screen
        return main.query_one(selector) if expect_type is None else main.query_one(selector, expect_type)

    def get_driver_class(self) -> Any:
        """The platform's driver, holding the input gate from its input thread (``tui.key_first_driver``)."""
        from tui.key_first_driver import key_first_driver

        return key_first_driver(super().get_driver_class())

    def hold_for_key(self) -> None:
        """A key was read (the driver's input thread): the engine's parsing waits (bounded) for its answer."""
        engine = self._engine
        if engine is not None:
            engine.input_first.hold()

    async def on_event(self, event: events.Event) -> None:
        """A key goes first: the engine's parsing waits until the screen has answered it
        (``tui.engine.input_first``), so a view switch under a flood costs what it costs idle."""
        if isinstance(event, events.Key) and self._engine is not None:
            gate = self._engine.input_first
            gate.hold()
            self.call_after_refresh(self.call_after_refresh, gate.release)  # the frame after the answer's
        await super().on_event(event)

    # ---- the run engine (created on first run, so start-up stays light) ----------------------
    @property
    def engine(self) -> Any:
        if self._engine is None:
            from tui.engine.run import RunEngine

            self._engine = RunEngine(lambda event: self.post_message(RunEvent(event)),
                                     stop_policy=self.stop_policy, stall_timeout=self.stall_timeout,
                                     perf_fallback=self._cache_logs())
        return self._engine

    @property
    def router(self) -> Any:
        return self.engine.router

    @property
    def supervisor(self) -> Any:
        return self.engine.supervisor

    def _cache_logs(self) -> str:
        return os.path.join(envs.cache_root(self.session.child_env(self.environ)), "logs")

    # ---- running -----------------------------------------------------------------------------
    def run_problems(self) -> list[str]:
        """Why a run would be refused now (session errors, fields that do not parse, the run bar)."""
        found = [p.message for p in self.session.problems(self.environ, self.host_platforms) if p.is_error]
        found += [msg for name, msg in self.invalid_fields().items() if not any(name in m for m in found)]
        found += self._main_query(RunBar).problems()
        return found

    def action_run(self) -> None:
        self._launch(restart=False)

    def _plan(self, fields: Mapping[str, Any], kernel_level: int | None = None) -> Any:
        from tui.launch import RunRequest, build_launch

        env = self.session.child_env(self.environ)
        if kernel_level is not None:
            from tui.crash import rerun_env

            env = rerun_env(env, kernel_level)
        return build_launch(RunRequest(**fields), env, base_environ=self.environ)

    def action_preview(self) -> None:
        """Show the final command line (and the SGLang translations) without running."""
        bar = self._main_query(RunBar)
        problems = bar.problems()
        if problems:
            bar.show_status("; ".join(problems), error=True)
            return
        plan = self._plan(bar.request_fields())
        bar.show_status(f"would run: $ {shown_command(plan)}")
        if plan.translations:
            self.notify("\n".join(plan.translations), title=f"sglang {plan.sglang_mode}: translated")

    def on_run_bar_preview_requested(self, event: RunBar.PreviewRequested) -> None:
        self.action_preview()

    def action_restart(self) -> None:
        self._launch(restart=True)

    def action_rerun(self, level: int) -> None:
        self._launch(restart=True, kernel_level=level, same_request=True)

    def _launch(self, restart: bool, kernel_level: int | None = None, same_request: bool = False) -> None:
        bar = self._main_query(RunBar)
        if self._views is None:  # pressed within the first frame: run once the views are there
            self.set_timer(0.05, lambda: self._launch(restart, kernel_level, same_request))
            return
        if self._engine is not None and self.engine.running and not restart:
            self.notify("already running: F6 stops, F7 restarts", severity="warning")
            return
        problems = self.run_problems()
        if problems:
            bar.show_status(f"refused: {len(problems)} error(s): " + "; ".join(problems), error=True)
            self.notify("\n".join(problems), title="Run refused", severity="error", timeout=6)
            return
        fields = dict(self._last_request) if same_request and self._last_request else bar.request_fields()
        self._last_request = fields
        plan = self._plan(fields, kernel_level)
        self._last_plan = plan
        bar.show_status(f"$ {shown_command(plan)}")
        self.views.process.show_exit(None, "starting…")
        self._start_run(plan)

    @work(thread=True, exclusive=True, group="launch")
    def _start_run(self, plan: Any) -> None:
        """Blocks while a previous run stops (a restart), so it runs in a worker thread."""
        try:
            self.engine.start(plan, restart=True)
        except (OSError, RuntimeError, ValueError) as exc:
            self.call_from_thread(self._main_query(RunBar).show_status, f"cannot start: {exc}", True)

    def action_stop(self) -> None:
        if self._engine is None or not self.engine.running:
            self.notify("nothing is running")
            return
        self.engine.stop_in_background()

    # ---- the run engine's events -------------------------------------------------------------
    def on_run_event(self, message: RunEvent) -> None:
        """One engine event to the views; batches are acknowledged so the engine sends the next."""
        from textual.css.query import NoMatches

        from tui.engine.events import EventKind

        event = message.event
        try:
            if self._views is not None:
                self._RUN_HANDLERS[event.kind](self, event)
        except NoMatches:  # a view still composing its children: once more after this frame
            if self.is_running:
                self.call_after_refresh(self.post_message, RunEvent(event))
        finally:
            if event.kind in (EventKind.LINES, EventKind.KERNEL, EventKind.TIMINGS):
                self.engine.ack()

    def _on_started(self, event: Any) -> None:
        clear = getattr(self.views.kernel, "clear", None)
        if clear is not None:
            clear()  # per run: the Kernel API view never grows across runs
        self.views.process.show_exit(None, event.text)
        self._show_state("running")

    def _on_lines(self, event: Any) -> None:
        self.views.output.add_lines(event.data)

    def _on_kernel(self, event: Any) -> None:
        update = event.data
        self.views.kernel.show_workers(update.workers)
        self.views.kernel.add_calls(list(update.calls))
        self.views.kernel.show_totals(update.api_counts, update.nan_total, update.inf_total)

    def _on_timings(self, event: Any) -> None:
        self.views.timings.show_workers(event.data.workers)
        self.views.timings.show_history(list(event.data.finished))
        self.views.timings.show_current(event.data.current)

    def _on_note(self, event: Any) -> None:
        kind = event.kind.value
        if kind == "stopping":
            self._show_state(f"stopping: {event.text}")
        elif kind in ("stalled", "resumed"):
            self._show_state("stalled" if kind == "stalled" else "running", event.text)
        elif kind == "sampled":
            self._main_query(RunBar).show_status(event.text, error=False)
        else:
            self._show_state(self.supervisor.state.value)
            self._main_query(RunBar).show_status(event.text, error=True)

    def _on_exited(self, event: Any) -> None:
        self._last_exit = event.data
        self.views.process.show_exit(event.data)
        self._show_state("exited")
        if self._last_plan is not None:
            self._main_query(RunBar).show_status(f"{event.text} · $ {shown_command(self._last_plan)}")

    def _on_crash(self, event: Any) -> None:
        report = event.data
        if getattr(report, "gpu_memory", None) is None:
            report.gpu_memory = self._gpu_memory()  # the Process view's last NVML sample and peaks
            paths = getattr(self._engine, "report_paths", None)
            if report.gpu_memory is not None and paths:
                try:
                    report.write(os.path.dirname(paths[0]))  # the copy on disk (0600 already) has it too
                except OSError:
                    pass  # the screen still shows it; the engine said where the files are
        self.show_crash(event.text, report.to_text())

    def _gpu_memory(self) -> dict[str, Any] | None:
        """GPU memory at death and the peaks from the Process view's sampler (None: no GPU).

        Read through the view object (built up front), not a DOM query: the Process tab may never
        have been shown, and its widgets are composed on first show."""
        record = self.views.process.gpu.sampler.memory_record()
        return record.to_dict() if record is not None else None

    def _show_state(self, state: str, text: str = "") -> None:
        self._main_query(SessionHeader).run_state = state
        if text:
            self._main_query(RunBar).show_status(text, error=False)

    _RUN_HANDLERS: dict[Any, Any] = {}

    def show_crash(self, title: str, text: str) -> None:
        """Keep this report (F10 shows it again) and open the crash screen."""
        self._crash = (title, text)
        self.action_crash_report()

    def action_crash_report(self) -> None:
        if self._crash is None:
            self.notify("no crash so far")
            return
        from tui.screens.crash_screen import CrashScreen

        if isinstance(self.screen, CrashScreen):
            return

        def done(level: int | None) -> None:
            if level is not None:
                self.action_rerun(level)

        self.push_screen(CrashScreen(*self._crash), done)

    # ---- leaving -----------------------------------------------------------------------------
    async def action_quit(self) -> None:
        deadline = time.monotonic() + 2.0
        while not self.settled and time.monotonic() < deadline:  # never tear down a pane mid-mount
            await asyncio.sleep(0.01)
        if self._engine is not None and self._engine.running:
            self.notify("stopping the backend…")
            await self._stop_for_quit().wait()
        self.exit(0)

    @work(thread=True, group="quit")
    def _stop_for_quit(self) -> None:
        from tui.supervisor import StopPolicy

        self.engine.stop(StopPolicy(sigint_timeout=1.0, sigterm_timeout=1.0, sigkill_timeout=1.0))

    def _catch_stop_signals(self) -> None:
        """SIGTERM and SIGHUP (``kill``, ``tmux kill-session``) stop the run with the usual
        escalation, then leave with ``128+N``.  Not under ``run_test`` (the test runner's signals).

        Why ``signal.signal`` and not the loop's ``add_signal_handler``: after a SIGHUP the terminal
        is gone, and Textual's writer queue can block the event loop for good; a plain handler still
        runs (lock waits are interruptible), so the stop and the exit do not depend on the loop.
        """
        if self.is_headless:
            return
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                signal.signal(sig, lambda signum, frame: self._on_stop_signal(signum))
            except (ValueError, OSError):  # not the main thread
                pass

    def _on_stop_signal(self, sig: int) -> None:
        def stop_then_exit() -> None:
            if self._engine is not None and self._engine.running:
                self._engine.stop()
            # After SIGHUP the terminal is gone and Textual's writes to it can wedge the loop, so
            # exit() may never run: the child is stopped by now, so leave hard after a grace period.
            watchdog = threading.Timer(EXIT_GRACE_S, os._exit, args=(128 + sig,))
            watchdog.daemon = True
            watchdog.start()
            try:
                self.call_from_thread(self.exit, 128 + sig)
            except RuntimeError:  # the app is already gone
                pass

        threading.Thread(target=stop_then_exit, name="stop-on-signal", daemon=True).start()

    def on_unmount(self) -> None:
        engine = self._engine
        if engine is not None:
            if engine.running:
                from tui.supervisor import StopPolicy

                engine.stop(StopPolicy(sigint_timeout=0.5, sigterm_timeout=0.5, sigkill_timeout=0.5))
            engine.close(timeout=0.5)


def _run_handlers() -> dict[Any, Any]:
    from tui.engine.events import EventKind as K

    app = RunningApp
    note = app._on_note
    return {
        K.STARTED: app._on_started, K.LINES: app._on_lines, K.KERNEL: app._on_kernel, K.TIMINGS: app._on_timings,
        K.OUTPUT: lambda self, e: self.views.image.show_output(e.data),
        K.UPLOAD: lambda self, e: self.views.image.show_upload(*e.data),
        K.PROCESS: lambda self, e: self.views.process.show_snapshot(e.data),
        K.STOPPING: note, K.STALLED: note, K.RESUMED: note, K.SAMPLED: note, K.ERROR: note,
        K.EXITED: app._on_exited, K.CRASH: app._on_crash,
    }


RunningApp._RUN_HANDLERS = _run_handlers()

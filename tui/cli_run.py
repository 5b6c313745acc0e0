"""Headless twin of the console's run view: ``run`` (``logs parse`` and ``crash-report`` are in
:mod:`tui.cli_logs`).

* ``sgl-console run [--session N] [--] CMD...`` launches ``CMD`` (our backend when empty) with the
  session's environment through the same run engine as the TUI (``tui.engine``), streams the
  child's stdout/stderr to ours unchanged, prints a summary (stages, steps, kernel API calls,
  NaN/Inf, outputs) on stderr at the end, and exits with the child's code (``128+N`` when killed
  by signal N).  On an abnormal end it writes ``crash_report.txt`` / ``.json`` into the run dir and
  prints their path.  Ctrl-C, SIGTERM and SIGHUP stop the child with the usual escalation; the
  child's bytes are echoed as they come (masked), at pipe speed: the engine parses them off that
  path.

Errors go to stderr.  Nothing here imports textual or rich.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

EXIT_REFUSED = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` to ``sgl-console``."""
    p = subparsers.add_parser(
        "run", help="launch a command with a session's environment, headless",
        description="Launch CMD (default: our backend) with the session's environment in its own process "
        "group; stream its output, recognise stage/timing/kernel API lines, print a summary on stderr, "
        "and exit with the child's code (128+N when killed by signal N). On failure a crash report "
        "(text and JSON) is written to the run directory under the cache root.",
    )
    p.add_argument("--session", "-s", dest="run_session", metavar="N",
                   help="session name (default: the top-level --session, else 'default')")
    p.add_argument("--prompt", default=None, help="prompt for our backend (when CMD is empty)")
    p.add_argument("--steps", type=int, default=None, help="denoising steps for our backend (when CMD is empty)")
    p.add_argument("--stall-timeout", type=float, default=None, metavar="S",
                   help="stop the run when it has printed nothing and used no CPU for S seconds")
    p.add_argument("--stop-timeout", type=float, default=5.0, metavar="S",
                   help="seconds between SIGINT, SIGTERM and SIGKILL when stopping (default 5)")
    p.add_argument("--no-translate", action="store_true",
                   help="for a real 'sglang generate|serve', do not translate documented-but-unread variables")
    p.add_argument("--force", action="store_true", help="run even if the session has errors")
    p.add_argument("--quiet", "-q", action="store_true", help="do not echo the child's output (summary only)")
    p.add_argument("--events", metavar="FILE", default=None,
                   help="write the run engine's events (kind, text, what they carry) as JSON Lines to FILE")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="command line (after an optional --)")
    p.set_defaults(handler=run_main)


def _err(text: str) -> None:
    print(f"sgl-console: {text}", file=sys.stderr)


# ---------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------


def _session(args: argparse.Namespace) -> Any:
    from tui.session import Session

    name = getattr(args, "run_session", None) or getattr(args, "session", None)
    return Session.load(name) if name else Session.open("default")


def worker_timing_lines(history: Sequence[Any], workers: Sequence[dict[str, Any]]) -> list[str]:
    """One line per ``--num-workers`` worker: its requests' total and step times (its lines' ``DP<r>`` tag)."""
    named = {w["rank"]: f"worker {w['rank']} (pid {w.get('pid', '?')}, {w.get('device') or 'device not logged'})"
             for w in workers}
    out = []
    for rank in sorted({req.rank for req in history if req.rank is not None}):
        mine = [req for req in history if req.rank == rank]
        steps = [ms for req in mine for ms in req.steps_ms]
        totals = [req.total_s for req in mine if req.total_s is not None]
        line = f"{named.get(rank, f'worker {rank}')}: {len(mine)} request(s)"
        if totals:
            line += f", total {sum(totals):.3f}s"
        if steps:
            line += f", {len(steps)} steps, mean {sum(steps) / len(steps):.1f} ms (min {min(steps):.1f}, max {max(steps):.1f})"
        out.append(line)
    return out


def summary_lines(stats: dict[str, Any], timings: Any, outputs: Sequence[str], uploads: Sequence[tuple[str, str]],
                  cuda: Sequence[str], workers: Sequence[str] = ()) -> list[str]:
    """The end-of-run summary (also useful to tests); ``workers``: :func:`worker_timing_lines`."""
    out = []
    if timings is not None:
        stages = timings.stage_seconds()
        if stages:
            out.append("stages: " + ", ".join(f"{k} {v:.3f}s" for k, v in stages.items()))
        steps = timings.steps_ms
        if steps:
            out.append(f"steps: {len(steps)}, mean {sum(steps) / len(steps):.1f} ms")
        if timings.total_s is not None:
            out.append(f"total: {timings.total_s:.3f}s")
    counts = stats.get("api_counts") or {}
    if counts:
        top = sorted(counts.items(), key=lambda kv: -kv[1])[:6]
        out.append(f"kernel API calls: {sum(counts.values())} ({', '.join(f'{k} x{v}' for k, v in top)})")
    if stats.get("nan_total") or stats.get("inf_total"):
        out.append(f"kernel API NaN: {stats.get('nan_total', 0)}, Inf: {stats.get('inf_total', 0)}")
    out += list(workers)
    out += [f"output: {p}" for p in outputs]
    out += [f"uploaded: {p} -> {u}" for p, u in uploads]
    out += [f"CUDA error: {c}" for c in cuda[-3:]]
    return out


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Ctrl-C, ``kill``, a closed terminal (``tmux kill-session``): each stops the child with the escalation."""


def _plan(args: argparse.Namespace, session: Any) -> Any:
    from tui.launch import RunRequest, build_launch

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    req = RunRequest(command=cmd or None, translate_sglang=not args.no_translate)
    if args.prompt is not None:
        req.prompt = args.prompt
    if args.steps is not None:
        req.steps = args.steps
    return build_launch(req, session.child_env(os.environ))


class _Face:
    """What ``sgl-console run`` does with the engine's events: notes on stderr, outputs kept for
    the summary, a stall stops the run.  Called from the engine's threads."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.engine: Any = None
        self.outputs: list[str] = []
        self.uploads: list[tuple[str, str]] = []
        self.stopping = False

    def __call__(self, event: Any) -> None:
        from tui.engine.events import EventKind

        kind = event.kind
        if kind in (EventKind.LINES, EventKind.KERNEL, EventKind.TIMINGS):
            self.engine.ack()
        elif kind is EventKind.OUTPUT:
            self.outputs.append(event.data)
        elif kind is EventKind.UPLOAD:
            self.uploads.append(event.data)
        elif kind is EventKind.STALLED and not self.stopping:
            self.stopping = True
            _err(f"{event.text}; stopping it")
            self.engine.stop_in_background()
        elif kind in (EventKind.STOPPING, EventKind.ERROR, EventKind.SAMPLED):
            if kind is not EventKind.STOPPING or event.text != getattr(self, "_last_stop", None):
                _err(event.text)
            self._last_stop = event.text if kind is EventKind.STOPPING else None


class _EventsWriter:
    """A listener writing each event's summary as one JSON line (``--events``), 0600."""

    def __init__(self, path: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._out = os.fdopen(fd, "w", encoding="utf-8")
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        from tui.engine.events import event_summary

        with self._lock:
            self._out.write(json.dumps(event_summary(event)) + "\n")
            self._out.flush()

    def close(self) -> None:
        self._out.close()


EXIT_PARSE_WAIT_S = 10.0
"""The summary and the crash report are written once: the exit waits this long at most for the last lines
to be parsed (a screen does not wait; a loaded host cut the stages off the summary)."""


def run_main(args: argparse.Namespace) -> int:
    from backend import envs
    from tui.engine.masking import shown_command
    from tui.engine.run import RunEngine
    from tui.session import SessionError
    from tui.supervisor import StopPolicy

    try:
        session = _session(args)
    except SessionError as exc:
        _err(str(exc))
        return EXIT_REFUSED
    errors = [p for p in session.problems(os.environ) if p.is_error]
    if errors and not args.force:
        _err(f"session {session.name!r} has errors; not running (use --force to run anyway):")
        for p in errors:
            print(f"  {p.line()}", file=sys.stderr)
        return EXIT_REFUSED
    plan = _plan(args, session)
    _err(f"running: {shown_command(plan)}")
    for note in plan.translations:
        _err(f"translated: {note}")

    cache_root = envs.cache_root(plan.env)
    face = _Face(args)
    echo = None if args.quiet else {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    sys.stdout.flush()
    sys.stderr.flush()
    engine = RunEngine(face, stop_policy=StopPolicy(args.stop_timeout, args.stop_timeout, args.stop_timeout),
                       stall_timeout=args.stall_timeout, cache_root=cache_root, echo=echo,
                       sample_processes=False, report_stalls=False,
                       perf_fallback=os.path.join(cache_root, "logs"), exit_parse_wait=EXIT_PARSE_WAIT_S)
    face.engine = engine
    events = _EventsWriter(args.events) if args.events else None
    if events is not None:
        engine.add_listener(events)
    interrupted = threading.Event()
    old = {s: signal.signal(s, lambda signum, frame: interrupted.set()) for s in STOP_SIGNALS}
    try:
        try:
            info = engine.start(plan)
        except OSError as exc:
            _err(f"cannot start {plan.argv[0]}: {exc.strerror or exc}")
            return 127 if isinstance(exc, FileNotFoundError) else 126
        sv = engine.supervisor
        while sv.running:
            if interrupted.is_set() and not face.stopping:
                face.stopping = True
                _err("interrupted; stopping the child")
                engine.stop_in_background()
            sv.wait(0.05)
        if not engine.wait_finished(60.0):  # the crash analysis reads logs and dumps: bounded, but not instant
            _err("the run's last events did not arrive within 60 s")
        status = sv.exit_status
        assert status is not None
        _err(f"child {status.description}")
        router = engine.router
        for line in summary_lines(router.stats(), router.current(), face.outputs, face.uploads,
                                  [ln.plain.strip() for ln in router.cuda_error_lines()],
                                  worker_timing_lines(router.history(), router.workers())):
            _err(line)
        _err(f"full logs: {info.run_dir}")
        if engine.report_paths is not None and engine.last_report is not None:
            _err(f"crash report: {engine.report_paths[0]} (and .json): {engine.last_report.headline()}")
        return status.exit_code
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if engine.running:
            engine.stop()
        engine.close()
        if events is not None:
            events.close()

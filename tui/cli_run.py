"""Headless twin of the console's run view: ``run`` (``logs parse`` and ``crash-report`` are in
:mod:`tui.cli_logs`).

* ``sgl-console run [--session N] [--] CMD...`` launches ``CMD`` (our backend when empty) with the
  session's environment through the same supervisor, router and tailer as the TUI, streams the
  child's stdout/stderr to ours unchanged, prints a summary (stages, steps, kernel API calls,
  NaN/Inf, outputs) on stderr at the end, and exits with the child's code (``128+N`` when killed
  by signal N).  On an abnormal end it writes ``crash_report.txt`` / ``.json`` into the run dir and
  prints their path.  Ctrl-C stops the child with the usual escalation.
Errors go to stderr.  Nothing here imports textual or rich.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, TextIO

EXIT_REFUSED = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` to ``sgl-console``."""
    p = subparsers.add_parser(
        "run", help="launch a command with a session's environment, headless",
        description="Launch CMD (default: our backend) with the session's environment in its own process "
        "group; stream its output, recognise stage/timing/kernel API lines, print a summary on stderr, "
        "and exit with the child's code (128+N when killed by signal N). On failure a crash report "
        "(text and JSON) is written to the run directory under the cache root.",
    )  # fmt: skip
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


def _write_line(out: TextIO, text: str, truncated: bool, cr: bool, tty: bool) -> None:
    out.write(text + (" [line truncated]" if truncated else "") + ("\r" if cr and tty else "\n"))


def summary_lines(stats: dict[str, Any], timings: Any, outputs: Sequence[str], uploads: Sequence[tuple[str, str]],
                  cuda: Sequence[str]) -> list[str]:  # fmt: skip
    """The end-of-run summary (also useful to tests)."""
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
    out += [f"output: {p}" for p in outputs]
    out += [f"uploaded: {p} -> {u}" for p, u in uploads]
    out += [f"CUDA error: {c}" for c in cuda[-3:]]
    return out


def run_main(args: argparse.Namespace) -> int:
    from tui.crash import analyze_router
    from tui.launch import RunRequest, build_launch, dump_roots, followed_files
    from tui.router import STDERR, STDOUT, Router
    from tui.session import SessionError
    from tui.supervisor import RunState, StopPolicy, Supervisor, default_cache_root
    from tui.tail import Tailer

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
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
    env = session.child_env(os.environ)
    req = RunRequest(command=cmd or None, translate_sglang=not args.no_translate)
    if args.prompt is not None:
        req.prompt = args.prompt
    if args.steps is not None:
        req.steps = args.steps
    plan = build_launch(req, env)
    _err(f"running: {plan.display}")
    for note in plan.translations:
        _err(f"translated: {note}")

    router = Router()
    cache_root = default_cache_root(plan.env)
    pol = StopPolicy(args.stop_timeout, args.stop_timeout, args.stop_timeout)
    sv = Supervisor(router, cache_root=cache_root, stop_policy=pol, stall_timeout=args.stall_timeout)
    tailer = Tailer(router, pids=sv.known_pids)
    for pattern, _kind in followed_files(plan.env, perf_fallback=os.path.join(cache_root, "logs")):
        tailer.add(pattern)
    interrupted = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        interrupted.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            info = sv.start(plan.argv, plan.env)
        except OSError as exc:
            _err(f"cannot start {plan.argv[0]}: {exc.strerror or exc}")
            return 127 if isinstance(exc, FileNotFoundError) else 126
        tailer.start()
        out_tty, err_tty = sys.stdout.isatty(), sys.stderr.isatty()
        stalled_for: float | None = None
        stopper: threading.Thread | None = None
        outputs: list[str] = []
        uploads: list[tuple[str, str]] = []

        def pump() -> None:
            batch = router.drain()
            if not args.quiet:
                for line in batch.lines:
                    if line.stream == STDOUT:
                        _write_line(sys.stdout, line.text, line.truncated, line.cr, out_tty)
                    elif line.stream == STDERR:
                        _write_line(sys.stderr, line.text, line.truncated, line.cr, err_tty)
                sys.stdout.flush()
                sys.stderr.flush()
            outputs.extend(batch.outputs)
            uploads.extend(batch.uploads)
            if batch.dropped and not args.quiet:
                _err(f"{batch.dropped} lines not echoed (output too fast); the full log is in {info.run_dir}")
            nonlocal stalled_for, stopper
            for ev in batch.events:
                if ev.kind == "stalled" and stopper is None:
                    stalled_for = float(ev.data or 0.0)
                    _err(f"{ev.text}; stopping it")
                    stopper = sv.stop_in_background()
                elif ev.kind == "stopping":
                    _err(ev.text)

        while sv.state in (RunState.RUNNING, RunState.STALLED, RunState.STOPPING):
            if interrupted.is_set() and stopper is None:
                _err("interrupted; stopping the child")
                stopper = sv.stop_in_background()
            pump()
            sv.wait(0.05)
        tailer.stop()
        pump()
        status = sv.exit_status
        assert status is not None
        _err(f"child {status.description}")
        current = router.current()
        for line in summary_lines(router.stats(), current, outputs, uploads,
                                  [ln.plain.strip() for ln in router.cuda_error_lines()]):  # fmt: skip
            _err(line)
        _err(f"full logs: {info.run_dir}")
        if not status.ok or stalled_for is not None:
            report = analyze_router(router, status, stalled_for=stalled_for,
                                    dump_roots=dump_roots(plan.env, sorted(sv.known_pids())),
                                    command=plan.display, run_dir=info.run_dir)  # fmt: skip
            txt, _js = report.write(info.run_dir)
            _err(f"crash report: {txt} (and .json): {report.headline()}")
        return status.exit_code
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if sv.running:
            sv.stop()
        tailer.stop(flush=False)

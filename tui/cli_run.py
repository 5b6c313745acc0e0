"""Headless twins of the console's run, log and crash views: ``run``, ``logs parse``, ``crash-report``.

* ``sgl-console run [--session N] [--] CMD...`` launches ``CMD`` (our backend when empty) with the
  session's environment through the same supervisor, router and tailer as the TUI, streams the
  child's stdout/stderr to ours unchanged, prints a summary (stages, steps, kernel API calls,
  NaN/Inf, outputs) on stderr at the end, and exits with the child's code (``128+N`` when killed
  by signal N).  On an abnormal end it writes ``crash_report.txt`` / ``.json`` into the run dir and
  prints their path.  Ctrl-C, SIGTERM and SIGHUP stop the child with the usual escalation; the
  child's bytes are echoed as they come (masked), at pipe speed: the run engine
  (``tui.engine``) parses them off that path.
* ``sgl-console logs parse FILE... [--json]`` prints the records found (stage lines, progress,
  performance.log records, notable lines, kernel API blocks), one per line.
* ``sgl-console crash-report [--log F ...] [--dump-dir D ...] [--json]`` prints the crash analysis
  of logs and dumps on disk (ours or a real SGLang's).

Exit codes of ``logs`` and ``crash-report``: 0 done, 2 refused (missing file, bad arguments).
Errors go to stderr.  Nothing here imports textual or rich.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

EXIT_REFUSED = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run``, ``logs`` and ``crash-report`` to ``sgl-console``."""
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
    p.add_argument("--events", metavar="FILE", default=None,
                   help="write the run engine's events (kind, text, what they carry) as JSON Lines to FILE")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="command line (after an optional --)")
    p.set_defaults(handler=run_main)

    p = subparsers.add_parser("logs", help="parse log files", description="Parse log files.")
    sub = p.add_subparsers(dest="logs_command", metavar="{parse}")
    sub.required = True
    q = sub.add_parser(
        "parse", help="print the records found in log files",
        description="Recognise stage lines, progress, performance.log records, notable lines (outputs, "
        "uploads, CUDA errors) and kernel API blocks in FILEs (ANSI colours allowed); a --perf-dump-path "
        "report (one JSON file) is read whole. Print one record per line.",
    )  # fmt: skip
    q.add_argument("files", nargs="+", metavar="FILE")
    q.add_argument("--json", action="store_true", help="JSON Lines output")
    q.set_defaults(handler=logs_parse_main)

    p = subparsers.add_parser(
        "crash-report", help="analyse logs and kernel API dumps on disk",
        description="How the run ended (as far as the logs tell), the kernel API call in flight (from log "
        "blocks and from dump folders still 'inputs_saved'), its arguments, dump path and the last 50 lines.",
    )  # fmt: skip
    p.add_argument("--log", action="append", default=[], metavar="F",
                   help="console output, kernel API log file or performance.log (repeatable)")
    p.add_argument("--dump-dir", action="append", default=[], metavar="D",
                   help="kernel API dump root, or one call folder (repeatable)")
    p.add_argument("--exit-code", type=int, default=None, metavar="N",
                   help="the exit code the run had (a shell's 128+N is read as signal N)")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(handler=crash_report_main)


def _err(text: str) -> None:
    print(f"sgl-console: {text}", file=sys.stderr)


# ---------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------


def _session(args: argparse.Namespace) -> Any:
    from tui.session import Session

    name = getattr(args, "run_session", None) or getattr(args, "session", None)
    return Session.load(name) if name else Session.open("default")


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


def _events_writer(path: str) -> Any:
    """A listener writing each event's summary as one JSON line (``--events``), 0600."""
    from tui.engine.events import event_summary

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    out = os.fdopen(fd, "w", encoding="utf-8")
    lock = threading.Lock()

    def write(event: Any) -> None:
        with lock:
            out.write(json.dumps(event_summary(event)) + "\n")
            out.flush()

    write.close = out.close  # type: ignore[attr-defined]
    return write


def run_main(args: argparse.Namespace) -> int:
    from tui.engine.run import RunEngine
    from tui.session import SessionError
    from tui.supervisor import StopPolicy, default_cache_root

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
    _err(f"running: {plan.display}")
    for note in plan.translations:
        _err(f"translated: {note}")

    cache_root = default_cache_root(plan.env)
    face = _Face(args)
    echo = None if args.quiet else {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}
    sys.stdout.flush()
    sys.stderr.flush()
    engine = RunEngine(face, stop_policy=StopPolicy(args.stop_timeout, args.stop_timeout, args.stop_timeout),
                       stall_timeout=args.stall_timeout, cache_root=cache_root, echo=echo,
                       sample_processes=False, report_stalls=False,
                       perf_fallback=os.path.join(cache_root, "logs"))  # fmt: skip
    face.engine = engine
    events = _events_writer(args.events) if args.events else None
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
        engine.wait_finished(5.0)
        status = sv.exit_status
        assert status is not None
        _err(f"child {status.description}")
        router = engine.router
        for line in summary_lines(router.stats(), router.current(), face.outputs, face.uploads,
                                  [ln.plain.strip() for ln in router.cuda_error_lines()]):  # fmt: skip
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


# ---------------------------------------------------------------------------------------
# logs parse
# ---------------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, datetime):
        return obj.isoformat(sep=" ")
    return obj


def _record_text(record: Any) -> str:
    parts = []
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if value is None or value == () or value == {}:
            continue
        if f.name == "inputs":
            value = ", ".join(n for n, _ in value)
        elif isinstance(value, datetime):
            value = value.isoformat(sep=" ")
        text = str(value)
        parts.append(f"{f.name}={text if len(text) <= 120 else text[:117] + '...'}")
    return f"{type(record).__name__} " + " ".join(parts)


def _perf_dump_report(path: str) -> Any:
    """The ``--perf-dump-path`` report (one pretty-printed JSON file), or None if ``path`` is not one."""
    from backend.records import PerfDumpReport

    try:
        if os.path.getsize(path) > 16 << 20:
            return None
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    if not text.lstrip().startswith("{") or "\n" not in text.strip():
        return None
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or "denoise_steps_ms" not in data:
            return None
        return PerfDumpReport.from_json(text)
    except (ValueError, KeyError, TypeError):
        return None


def iter_file_records(path: str) -> Any:
    """Yield ``(line_number, record)`` for one file, in order; kernel API blocks come when they
    complete (line number of the line that completed them), blocks still open at the end last."""
    from backend.records import KernelApiLogParser, parse_line
    from tui.lines import LineSplitter

    report = _perf_dump_report(path)
    if report is not None:
        yield 1, report
        return
    parser = KernelApiLogParser()
    splitter = LineSplitter()
    n = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            for text, _trunc, _cr in splitter.feed(chunk):
                n += 1
                record = parse_line(text)
                if record is not None:
                    yield n, record
                for call in parser.feed(text):
                    yield n, call
    for text, _trunc, _cr in splitter.flush():
        n += 1
        record = parse_line(text)
        if record is not None:
            yield n, record
        for call in parser.feed(text):
            yield n, call
    for call in parser.flush():
        yield n, call


def logs_parse_main(args: argparse.Namespace) -> int:
    missing = [f for f in args.files if not os.path.isfile(f)]
    if missing:
        _err("no such file: " + ", ".join(missing))
        return EXIT_REFUSED
    try:
        for path in args.files:
            for n, record in iter_file_records(path):
                if args.json:
                    print(json.dumps({"file": path, "line": n, "type": type(record).__name__,
                                      "record": _jsonable(record)}, default=str))  # fmt: skip
                else:
                    print(f"{path}:{n}: {_record_text(record)}")
    except BrokenPipeError:
        return 0
    except OSError as exc:
        _err(f"cannot read: {exc}")
        return EXIT_REFUSED
    return 0


# ---------------------------------------------------------------------------------------
# crash-report
# ---------------------------------------------------------------------------------------


def crash_report_main(args: argparse.Namespace) -> int:
    from tui.crash import analyze_files
    from tui.supervisor import ExitStatus

    if not args.log and not args.dump_dir:
        _err("crash-report needs --log F and/or --dump-dir D")
        return EXIT_REFUSED
    missing = [f for f in args.log if not os.path.isfile(f)] + [d for d in args.dump_dir if not os.path.isdir(d)]
    if missing:
        _err("not found: " + ", ".join(missing))
        return EXIT_REFUSED
    exit_status = None
    if args.exit_code is not None:
        exit_status = ExitStatus.decode(args.exit_code, shell=args.exit_code > 128)
    started = time.monotonic()
    report = analyze_files(args.log, args.dump_dir, exit=exit_status)
    print(report.to_json() if args.json else report.to_text(), end="" if not args.json else "\n")
    if time.monotonic() - started > 5:
        _err(f"analysis took {time.monotonic() - started:.1f} s")
    return 0

"""Headless log commands: ``logs parse`` and ``crash-report`` (files on disk, ours or a real SGLang's).

* ``sgl-console logs parse FILE... [--json]`` prints the records found (stage lines, progress,
  requests and their outcomes, exception lines, performance.log records, notable lines, kernel API
  blocks), one per line; a kernel API call with NaN/Inf says where (``nan: arg[0]=1, return=8``).
* ``sgl-console crash-report [--log F ...] [--dump-dir D ...] [--exit-code N] [--json]`` prints the
  crash analysis of :mod:`tui.crash`: the process and request that died, stage and step, the call in
  flight (or what level 1 cannot tell), the first NaN/Inf, errors scoped fatal vs survived. ``--json``
  is strict JSON (NaN/Inf as strings).

Exit codes: 0 done, 2 refused (missing file, bad arguments). Errors go to stderr.
Nothing here imports textual or rich.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from datetime import datetime
from typing import Any

EXIT_REFUSED = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``logs`` and ``crash-report`` to ``sgl-console``."""
    p = subparsers.add_parser("logs", help="parse log files", description="Parse log files.")
    sub = p.add_subparsers(dest="logs_command", metavar="{parse}")
    sub.required = True
    q = sub.add_parser(
        "parse", help="print the records found in log files",
        description="Recognise stage lines, progress, request outcomes, exception lines, performance.log "
        "records, notable lines (outputs, uploads, CUDA errors) and kernel API blocks in FILEs (ANSI colours "
        "allowed); a --perf-dump-path report (one JSON file) is read whole. Print one record per line.",
    )
    q.add_argument("files", nargs="+", metavar="FILE")
    q.add_argument("--json", action="store_true", help="JSON Lines output (strict: NaN/Inf as strings)")
    q.set_defaults(handler=logs_parse_main)

    p = subparsers.add_parser(
        "crash-report", help="analyse logs and kernel API dumps on disk",
        description="How the run ended (as far as the logs tell), the process, request, stage and denoising "
        "step that died, the kernel API call in flight (or, at level 1, only the last one logged), its "
        "arguments and dump, the first NaN/Inf, the errors that killed it (earlier survived errors apart), "
        "and the last 50 lines of all logs merged by time.",
    )
    p.add_argument("--log", action="append", default=[], metavar="F",
                   help="console output (stdout/stderr), kernel API log file (one per process with %%i) "
                        "or performance.log (repeatable)")
    p.add_argument("--dump-dir", action="append", default=[], metavar="D",
                   help="kernel API dump root, or one call folder (repeatable)")
    p.add_argument("--exit-code", type=int, default=None, metavar="N",
                   help="the exit code the run had (a shell's 128+N is read as signal N)")
    p.add_argument("--json", action="store_true", help="JSON output (strict: NaN/Inf as strings)")
    p.set_defaults(handler=crash_report_main)


def _err(text: str) -> None:
    print(f"sgl-console: {text}", file=sys.stderr)


# ---------------------------------------------------------------------------------------
# logs parse
# ---------------------------------------------------------------------------------------


def _jsonable(obj: Any) -> Any:
    from tui.crash_calls import finite_or_text

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, datetime):
        return obj.isoformat(sep=" ")
    return finite_or_text(obj)


def _non_finite(record: Any) -> str:
    """``nan: arg[0]=1, return=8; inf: ...`` for a kernel API call, empty when all finite."""
    from backend.records import KernelApiCall, TensorDesc, ValueDesc

    if not isinstance(record, KernelApiCall):
        return ""

    def walk(label: str, value: ValueDesc) -> list[tuple[str, int, int]]:
        if isinstance(value, TensorDesc):
            st = value.stats
            return [(label, st.nan_count, st.inf_count)] if st is not None else []
        return [hit for sub, item in value.items for hit in walk(f"{label}[{sub}]", item)]

    hits = [h for name, v in record.inputs for h in walk(name, v)]
    if record.output is not None:
        hits += walk("return", record.output)
    parts = []
    for kind, pos in (("nan", 1), ("inf", 2)):
        found = [f"{label}={h[pos]}" for h in hits for label in [h[0]] if h[pos]]
        if found:
            parts.append(f"{kind}: " + ", ".join(found))
    return "; ".join(parts)


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
    extra = _non_finite(record)
    return f"{type(record).__name__} " + " ".join(parts) + (f" [{extra}]" if extra else "")


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

    def records(text: str) -> Any:
        record = parse_line(text)
        if record is not None:
            yield n, record
        for call in parser.feed(text):
            yield n, call

    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            for text, _trunc, _cr in splitter.feed(chunk):
                n += 1
                yield from records(text)
    for text, _trunc, _cr in splitter.flush():
        n += 1
        yield from records(text)
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
                                      "record": _jsonable(record)}, default=str, allow_nan=False))
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
    try:
        report = analyze_files(args.log, args.dump_dir, exit=exit_status)
    except OSError as exc:
        _err(f"cannot read: {exc}")
        return EXIT_REFUSED
    print(report.to_json() if args.json else report.to_text(), end="" if not args.json else "\n")
    if time.monotonic() - started > 5:
        _err(f"analysis took {time.monotonic() - started:.1f} s")
    return 0

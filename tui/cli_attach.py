"""``sgl-console attach``: the console on a backend it did not start.

* ``sgl-console attach --log OUT.log [--log 'kernel_%i.log' ...] [--dump-dir D] [--url URL] [--pid PID]``
  follows the files (the first plain ``--log`` is the backend's captured stdout), reads our
  backend's dev endpoints at ``--url`` and watches ``--pid``; with ``--report-on-exit`` it runs
  headless: it waits for the process to die, then prints the crash report (``--json``: as JSON)
  and exits 0 when the process ended normally, 1 when it did not.
* Without ``--report-on-exit`` it prints what it follows and the dev endpoints' answers once a
  second until the process dies (or ctrl+c), then the report: the terminal twin of the live views.

Exit codes: 0 the process ended normally, 1 it ended abnormally (or its status is unknown), 2
refused (no such pid, nothing to attach to).  Imports neither textual nor rich.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_REFUSED = 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``attach`` to ``sgl-console``."""
    p = subparsers.add_parser(
        "attach", help="follow a backend this console did not start (logs, dev endpoints, pid)",
        description="Follow a running backend started elsewhere: its log files (the first plain --log is its "
        "captured stdout; kernel API logs may use %%i for the pid), its dev endpoints (--url, our "
        "sgl-backend serve with SGLANG_DIFFUSION_SERVER_DEV_MODE=true) and its process (--pid). When the "
        "process dies, the crash report is printed.",
    )
    p.add_argument("--log", action="append", default=[], metavar="FILE",
                   help="a log file to follow (repeatable; %%i matches the pid of each process)")
    p.add_argument("--dump-dir", action="append", default=[], metavar="D",
                   help="a kernel API dump folder (SGLANG_KERNEL_API_DUMP_DIR of the backend; repeatable)")
    p.add_argument("--url", metavar="URL", help="the backend's address, e.g. http://127.0.0.1:30000")
    p.add_argument("--pid", type=int, metavar="PID", help="the backend's process id (on this machine)")
    p.add_argument("--report-on-exit", action="store_true",
                   help="headless: wait for --pid to die, print the crash report, exit")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--interval", type=float, default=1.0, metavar="S",
                   help="seconds between status lines and dev endpoint reads (default 1)")
    p.set_defaults(handler=attach_main)


def _refuse(text: str) -> int:
    print(f"attach: {text}", file=sys.stderr)
    return EXIT_REFUSED


def attach_main(args: argparse.Namespace) -> int:
    """Check what to attach to, follow it until the process dies, print the report."""
    import psutil

    from tui.attach import AttachedProcess, build_report, follow_logs, read_dev_endpoints
    from tui.router import Router

    if not (args.log or args.pid or args.url):
        return _refuse("nothing to attach to: give --log FILE, --pid PID and/or --url URL")
    if args.pid is None:
        return _refuse("--pid is needed to see the process die (the report is made at its death); "
                       "find it with e.g. 'pgrep -f sgl-backend'")
    if args.url and not args.url.startswith(("http://", "https://")):
        return _refuse(f"--url {args.url!r}: must start with http:// or https://")
    if args.interval <= 0:
        return _refuse(f"--interval {args.interval}: must be above 0")
    try:
        proc = AttachedProcess(args.pid)
    except psutil.NoSuchProcess:
        return _refuse(f"--pid {args.pid}: no such process")
    except psutil.AccessDenied:
        return _refuse(f"--pid {args.pid}: not allowed to read that process (another user's?)")
    if not args.report_on_exit:
        return open_console(args)
    router = Router()
    tailer = follow_logs(router, args.log, proc.known_pids)
    command = " ".join(proc.cmdline) or proc.name
    dev = read_dev_endpoints(args.url) if args.url else None
    print(f"attach: pid {proc.pid} ({command}); following {', '.join(args.log) or 'no files'}"
          + (f"; dev endpoints at {args.url} ({_health(dev)})" if dev is not None else ""),
          file=sys.stderr, flush=True)
    try:
        while not proc.wait(timeout=args.interval):
            if args.url:
                latest = read_dev_endpoints(args.url)
                dev = latest if latest.answers or dev is None else dev  # keep the last answers past death
    except KeyboardInterrupt:
        tailer.stop(timeout=2.0)
        print("attach: stopped watching (the process keeps running)", file=sys.stderr)
        return 0
    finally:
        tailer.stop(timeout=2.0)
    report, status = build_report(router, proc, args.dump_dir, command)
    ok = status is not None and status.ok
    if args.json:
        data = report.to_dict()
        data["dev_endpoints"] = None if dev is None else {"answers": dev.answers, "errors": dev.errors}
        print(json.dumps(data, indent=2, default=str))
    else:
        sys.stdout.write(report.to_text())
        print(f"Attached to pid {proc.pid}: {report.sources[-1]}")
        if dev is not None:
            print(f"Last dev endpoint answers ({args.url}):")
            for path, answer in dev.answers.items():
                print(f"  {path}: {json.dumps(answer, default=str)[:300]}")
    return 0 if ok else 1


def make_attach_app(pid: int, logs: list[str], dump_dirs: list[str], url: str | None, **options: Any) -> Any:
    """The console with an :class:`~tui.attach_engine.AttachEngine` as its engine, attached once
    the live views are mounted (an event before that would find no view).

    Raises:
        psutil.NoSuchProcess: no process ``pid``.
    """
    from tui.app import ConsoleApp
    from tui.attach_engine import AttachEngine
    from tui.messages import RunEvent

    class AttachedConsole(ConsoleApp):
        """The same console; its engine follows a backend it did not start."""

        async def on_mount(self) -> None:  # runs after ConsoleApp's own on_mount (Textual walks the MRO)
            self.sub_title = f"attached to pid {pid}"
            self._attach_when_settled()

        def _attach_when_settled(self) -> None:
            if self.settled:
                engine.attach()
            else:
                self.set_timer(0.05, self._attach_when_settled)

    session = options.pop("session", None)
    app = AttachedConsole(session_name=session, **options)
    engine = AttachEngine(lambda event: app.post_message(RunEvent(event)), pid, logs, dump_dirs, url)
    app._engine = engine
    return app


def open_console(args: argparse.Namespace) -> int:
    """The live views on the attached backend (the TUI); quitting leaves the backend running."""
    app = make_attach_app(args.pid, args.log, args.dump_dir, args.url, session=getattr(args, "session", None))
    app.run()
    return int(app.return_code or 0)


def _health(dev: Any) -> str:
    health = dev.answers.get("/health")
    if isinstance(health, dict):
        return f"health: {health.get('status')}"
    return f"health: {dev.errors.get('/health', 'no answer')}"

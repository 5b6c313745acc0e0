"""``sgl-console``: the Textual console, plus headless subcommands for scripts and CI.

Why one entry point: operators get the TUI with no arguments, while ``env``, ``run``,
``logs`` and ``crash-report`` work with no TTY.  Each subcommand lives in its own
``cli_*`` module that registers its parser here; nothing heavy is imported before a
subcommand is chosen, so ``sgl-console --help`` and the TUI start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tui.app import ConsoleApp


def make_app(session: str | None = None, command: Sequence[str] | None = None, **options: Any) -> ConsoleApp:
    """Build the console app; the one factory shared by ``main`` and the tests.

    Args:
        session: name of the session to open (``default`` when None).
        command: the backend command line to launch (our ``sgl-backend`` when None).
        options: passed through to :class:`tui.app.ConsoleApp`.
    """
    from tui import upstream_registry
    from tui.app import ConsoleApp

    # the variables of the sglang that command runs (spec alone otherwise), before any pane is built
    upstream_registry.activate(command, environ=options.get("environ"))
    return ConsoleApp(session_name=session, command=list(command) if command else None, **options)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv`` (None: ``sys.argv``): the top-level options and the subcommand(s)."""
    parser = argparse.ArgumentParser(
        prog="sgl-console",
        description="Control console for diffusion generation runtimes. With no subcommand, opens the TUI.",
    )
    parser.add_argument("--session", "-s", help="session to open (default: 'default')")
    parser.add_argument("--command", help="backend command line to launch instead of our sgl-backend")
    parser.add_argument(
        "--images", choices=("half-block", "auto"), default=os.environ.get("SGL_CONSOLE_IMAGES", "half-block"),
        help="image previews: half-block (default: any terminal, no start-up cost) or auto (sixel/kitty "
             "where the terminal has them; asks the terminal at start, about 0.4 s)")
    parser.add_argument("--strict", action="store_true",
                        help="accept only the documented spellings of each variable (also: SGL_CONSOLE_STRICT=1); "
                        "by default values are read as the sglang runtime reads them")
    sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND")
    import importlib

    chosen = _chosen_subcommand(argv)
    wanted = dict.fromkeys(SUBCOMMANDS.values()) if chosen == "*" else [SUBCOMMANDS[chosen]] if chosen else []
    for name in wanted:
        importlib.import_module(name).register(sub)
    return parser


SUBCOMMANDS = {"env": "tui.cli_env", "run": "tui.cli_run", "logs": "tui.cli_logs", "crash-report": "tui.cli_logs",
               "serve-web": "tui.cli_web", "attach": "tui.cli_attach"}
"""Each subcommand's module, in ``--help`` order.  Only the chosen one is imported (``sgl-console run``
and the TUI start without the others' imports: ``env`` alone costs about 0.2 s)."""


def _chosen_subcommand(argv: Sequence[str] | None) -> str | None:
    """The subcommand named on the command line; None for none (the TUI); ``*`` for help at the top
    level or an unknown name (then every subcommand is registered, for the help text or argparse's error)."""
    args = list(sys.argv[1:] if argv is None else argv)
    for i, arg in enumerate(args):
        if arg in ("-h", "--help"):
            return "*"
        if arg.startswith("-"):
            continue
        if i > 0 and args[i - 1] in ("--session", "-s", "--command", "--images"):
            continue  # the value of a top-level option
        return arg if arg in SUBCOMMANDS else "*"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sgl-console``; returns the process exit code."""
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.strict:
        from backend.envs import STRICT_VAR

        os.environ[STRICT_VAR] = "1"  # the console, its env commands and the child read it alike
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args) or 0)
    import shlex

    if args.images == "auto":
        import textual_image.widget  # noqa: F401 - asks the terminal now, before Textual owns it
    command = shlex.split(args.command) if args.command else None
    app = make_app(session=args.session, command=command, half_block=args.images != "auto")
    app.run()
    return int(app.return_code or 0)


if __name__ == "__main__":
    sys.exit(main())

"""``sgl-console env ...``: sessions and variables from a shell, with no TTY needed.

Subcommands: ``show``, ``check``, ``set``, ``unset``, ``export``, ``diff``, ``list``,
``import`` and ``docs``.  Every table and check comes from :mod:`backend.envs`; every
file operation goes through :mod:`tui.session`.
This module is the parser and the entry point; the commands live in :mod:`tui.cli_env_commands`,
what they share in :mod:`tui.cli_env_support`.

Choices (the issue left them open):

* The session is ``--session N``, else the top-level ``sgl-console -s N``, else
  ``default``.  A missing ``default`` reads as an empty session; a missing session named
  explicitly is an error.
* ``show`` lists every managed variable (the spec's "all variables with their
  defaults"); ``--all`` adds the session's unmanaged names and unknown ``SGLANG_*`` names
  found in the environment.
* ``check`` prints errors, then warnings, one per line on stdout; it exits 1 when there
  is an error, 0 otherwise (warnings alone pass).
* ``set``/``unset``/``import`` change nothing unless every argument is valid.
* Exit codes: 0 success, 1 ``check`` found errors, 2 the command was refused (bad
  arguments, invalid values, unknown session); messages go to stderr.
* Secrets are masked everywhere except ``export``, whose output is for ``eval`` and
  ``source``.  When ``export`` writes to a terminal it masks them too (nobody evals a
  screen) unless ``--show-secrets`` is given, and says so on stderr.  Unmanaged names that
  look like credentials (``*SECRET*``, ``*TOKEN*``, ``*PASSWORD*``, ``*_KEY*``) are masked
  like secrets.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from backend import envs
from tui.cli_env_commands import (
    cmd_check,
    cmd_diff,
    cmd_docs,
    cmd_export,
    cmd_import,
    cmd_list,
    cmd_set,
    cmd_show,
    cmd_unset,
)
from tui.cli_env_support import EXIT_REFUSED
from tui.session import DEFAULTS_NAME

# ---------------------------------------------------------------------------------------
# Registration.
# ---------------------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``env`` and its subcommands to the ``sgl-console`` parser."""
    env = subparsers.add_parser(
        "env", help="show, check and edit session variables",
        description="Sessions and the variables they set. Secrets are masked except in 'export'.",
    )
    env.set_defaults(handler=lambda args: _usage(env))
    sub = env.add_subparsers(dest="env_command", metavar="COMMAND")

    def strict_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--strict", action="store_true", default=None,
                       help=f"accept only the documented spellings (as {envs.STRICT_VAR}=1 does); by default "
                       "values are read as the sglang runtime reads them")

    def python_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--python", metavar="PY",
                       help="also cover the variables of the sglang installed for interpreter PY (read from its "
                       "source, never imported); default: the sglang of the top-level --command, if any")

    def session_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--session", "-s", dest="env_session", metavar="N",
                       help="session name (default: the top-level --session, else 'default')")

    p = sub.add_parser("show", help="every variable: effective value and where it came from",
                       description="List every managed variable with its effective value (secrets masked) and "
                       "source: session, environment, inherited (secondary from primary) or default.")
    session_opt(p)
    strict_opt(p)
    python_opt(p)
    p.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    p.add_argument(
        "--all",
        action="store_true",
        help="also list the session's unmanaged names and unknown SGLANG_* names in the environment",
    )
    p.set_defaults(handler=cmd_show)

    p = sub.add_parser("check", help="validate a session (exit 1 on errors)",
                       description="Check every value and the cross-variable rules. Errors, then warnings, one "
                       "per line. Exit 1 when there is an error; warnings alone exit 0.")
    session_opt(p)
    strict_opt(p)
    python_opt(p)
    p.set_defaults(handler=cmd_check)

    p = sub.add_parser("set", help="set variables in a session (created if missing)",
                       description="Set NAME=VALUE pairs in session N, creating it if needed. If any value "
                       "is invalid nothing is written. An empty VALUE unsets.")
    p.add_argument("name", metavar="N", help="session name")
    p.add_argument("assignments", nargs="+", metavar="NAME=VALUE",
                   help="NAME=VALUE; a bare NAME reads its value from --stdin or a hidden prompt "
                   "(secrets then never appear on the command line)")
    p.add_argument("--stdin", action="store_true", help="read the value of the one bare NAME from standard input")
    strict_opt(p)
    python_opt(p)
    p.set_defaults(handler=cmd_set)

    p = sub.add_parser(
        "unset",
        help="remove variables from a session",
        description="Remove NAMEs from session N (they fall back to their defaults).",
    )
    p.add_argument("name", metavar="N", help="session name")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.set_defaults(handler=cmd_unset)

    p = sub.add_parser("export", help="print 'export NAME=value' lines for eval/source",
                       description="Print the session as shell export lines: eval \"$(sgl-console env export "
                       "-s N)\". Secrets are included when the output is not a terminal.")
    session_opt(p)
    p.add_argument(
        "--show-secrets", action="store_true", help="include secrets even when writing to a terminal"
    )
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("diff", help="variables that differ between two sessions",
                       description=f"Compare session A with session B; B (or A) may be '{DEFAULTS_NAME}'. "
                       "Secrets are masked.")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B", nargs="?", default=DEFAULTS_NAME, help=f"default: {DEFAULTS_NAME}")
    p.set_defaults(handler=cmd_diff)

    p = sub.add_parser("list", help="saved sessions", description="List saved session names, one per line.")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("import", help="create a session from the current environment",
                       description="Create session N from the managed variables set in this process's "
                       "environment. Refuses invalid values, and an existing session unless --merge.")
    p.add_argument("name", metavar="N", help="session name")
    p.add_argument("--merge", action="store_true", help="update an existing session instead of refusing")
    p.set_defaults(handler=cmd_import)

    p = sub.add_parser(
        "docs",
        help="Markdown table of every variable",
        description="Print the registry as a Markdown table (generated, never hand-kept).",
    )
    p.add_argument("--pane", choices=[pane.value for pane in envs.Pane], help="only one pane")
    python_opt(p)
    p.set_defaults(handler=cmd_docs)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_REFUSED


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``env`` alone (``python -m tui.cli_env show``), without the rest of the console's CLI."""
    parser = argparse.ArgumentParser(prog="sgl-console")
    sub = parser.add_subparsers(dest="subcommand")
    register(sub)
    args = parser.parse_args(["env", *(sys.argv[1:] if argv is None else argv)])
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

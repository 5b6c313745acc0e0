"""``sgl-console``'s entry point: every subcommand listed in the help, only the chosen one imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.fixtures_session import REPO_ROOT
from tui.__main__ import SUBCOMMANDS


def _modules_after_parse(argv: list[str]) -> set[str]:
    """The subcommand modules (``SUBCOMMANDS``' values) imported once ``argv`` is parsed, in a fresh interpreter."""
    code = (f"import sys; from tui.__main__ import build_parser; build_parser({argv!r}); "
            "print(' '.join(sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return set(done.stdout.split()) & set(SUBCOMMANDS.values())


@pytest.mark.parametrize(("argv", "module"), [
    (["run", "--", "true"], "tui.cli_run"),
    (["-s", "env", "env", "list"], "tui.cli_env"),  # "env" after -s is the session's name, the second the command
    (["--strict", "crash-report", "x"], "tui.cli_logs"),
])
def test_only_the_chosen_subcommand_is_imported(argv: list[str], module: str) -> None:
    assert _modules_after_parse(argv) == {module}


def test_the_tui_imports_no_subcommand() -> None:
    assert _modules_after_parse(["-s", "mine"]) == set()


@pytest.mark.parametrize("argv", [["--help"], ["bogus"]])
def test_help_and_unknown_names_list_every_subcommand(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "tui", *argv], cwd=REPO_ROOT, capture_output=True, text=True)
    shown = done.stdout + done.stderr
    assert all(name in shown for name in SUBCOMMANDS), shown
    assert (done.returncode == 0) == (argv == ["--help"])

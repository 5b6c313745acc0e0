"""Helpers for the session tests: writing a hand-made session file, and sourcing one in a real bash.

Why a module: the format, editing and shell tests (``tests/test_session_*.py``) all write files
the way an operator would and read them back the way bash does.
"""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def write(path: Path, text: str) -> None:
    """Write ``text`` (dedented) to ``path``, creating its directory, as an operator's editor would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def bash_env(script_file: Path, base: dict[str, str]) -> dict[str, str]:
    """Source ``script_file`` in a real bash and return the environment it exports."""
    assert BASH is not None
    out = subprocess.run([BASH, "--noprofile", "--norc", "-c", 'source "$1" && env -0', "bash", str(script_file)],
                         env=base, capture_output=True, check=True, timeout=60).stdout
    pairs = [item.split(b"=", 1) for item in out.split(b"\0") if item]
    return {k.decode(): v.decode("utf-8", "surrogateescape") for k, v in pairs}

"""Tests for the two promises of the session file: real bash reads back exactly what was set (and
any file loads without raising), and a writer killed at any moment leaves the old file or the new one.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from backend.envs import REGISTRY, EnvError
from tests.session_helpers import bash_env, needs_bash
from tui.session import (
    Session,
    SessionError,
    list_sessions,
)

# -- the real shell reads back exactly what was set -------------------------------------------


def _valid_raw(name: str) -> st.SearchStrategy[str]:
    var = REGISTRY[name]

    def ok(raw: str) -> bool:
        try:
            var.parse(raw)
        except EnvError:
            return False
        return True

    text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                   min_size=1, max_size=30)
    return st.one_of(st.sampled_from(var.kind.examples() or ("1",)), text).filter(ok)


assignments = st.lists(
    st.sampled_from(sorted(REGISTRY)).flatmap(lambda n: st.tuples(st.just(n), _valid_raw(n))),
    min_size=1,
    max_size=6,
)


@needs_bash
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.filter_too_much])
@given(pairs=assignments)
@example(pairs=[("SGLANG_KERNEL_API_DUMP_INCLUDE", "a\nb"), ("SGLANG_CACHE_DIT_SCM_COMPUTE_BINS", "1\n,2")])
@example(pairs=[("SGLANG_DIFFUSION_CACHE_ROOT", "\x1e'\"$x`\\\r"), ("SGLANG_KERNEL_API_LOGDEST", "#x y")])
def test_valid_values_survive_save_load_export_and_bash(config_root: Path, tmp_path: Path,
                                                       pairs: list[tuple[str, str]]) -> None:
    session = Session.new("prop", {"HOME": "/h"})
    for name, raw in pairs:
        session.set(name, raw)
    expected = dict(session.values)
    session.save()
    loaded = Session.load("prop", {"HOME": "/h"})
    assert loaded.values == expected
    assert [p for p in loaded.load_problems if "shell expansion" not in p.message] == []
    export = tmp_path / "export.sh"
    export.write_text(loaded.export_text(), encoding="utf-8")
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/h", "LC_ALL": "C"}
    for script in (export, loaded.path):
        got = bash_env(script, base)
        assert {k: v for k, v in got.items() if k in REGISTRY} == expected


@needs_bash
def test_unquoted_control_characters_read_as_bash_reads_them(config_root: Path, sessions_path: Path) -> None:
    """Only space and tab are blanks to bash: \\x1f, \\x0b, \\x0c around an unquoted value stay in it (the
    fuzz drill found the console stripping them, as ``str.strip()`` does), and a line of them alone is a
    command to bash, not a blank line; a NUL byte, which bash drops, makes the line an error."""
    sessions_path.mkdir(parents=True, exist_ok=True)
    path = sessions_path / "ctl.env"
    path.write_bytes(b"export MY_B=ab\x1f\nexport MY_C=\x0bcd\x0c\t\nexport \x1fMY_D=x\n\x1f\n"
                     b"export MY_F=a\x00b\nexport MY_E=ok\n")
    session = Session.load("ctl")
    got = bash_env(path, {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/h", "LC_ALL": "C"})
    assert session.get("MY_B") == got["MY_B"] == "ab\x1f"
    assert session.get("MY_C") == got["MY_C"] == "\x0bcd\x0c"
    assert "MY_D" not in got and session.get("MY_D") is None
    assert session.get("MY_E") == got["MY_E"] == "ok"
    assert got["MY_F"] == "ab" and session.get("MY_F") is None  # bash drops the NUL: the console refuses the line
    errors = [p.message for p in session.load_problems if p.is_error]
    assert any("line 3" in m for m in errors) and any("line 4" in m for m in errors), errors
    assert any("line 5" in m and "NUL" in m for m in errors), errors


_file_pieces = st.sampled_from(["export ", "SGLANG_CACHE_DIT_MC", "X", "=", "'", '"', "\\", "#", " ", "\n", "$",
                                "a", "1", "\r", "\t", "`", ";", "\x1e"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.lists(_file_pieces, max_size=40).map("".join), st.text(max_size=60)))
def test_any_file_loads_without_raising_and_saving_keeps_its_values(
    config_root: Path, sessions_path: Path, text: str
) -> None:
    sessions_path.mkdir(parents=True, exist_ok=True)
    (sessions_path / "any.env").write_bytes(text.encode("utf-8"))
    first = Session.load("any")
    first.save()
    second = Session.load("any")
    assert (second.values, second.unknown) == (first.values, first.unknown)


# -- a writer killed at any moment leaves the old file or the new one --------------------------

WRITER = r"""
import os, sys, time
from tui.session import Session

_write = os.write


def slow_write(fd, data):
    # A slow disk: small chunks with a pause, so that kills land inside the write window too.
    # The save logic itself (temp file, fsync, rename) is untouched.
    time.sleep(0.0005)
    return _write(fd, bytes(data[:8192]))


os.write = slow_write
size = int(sys.argv[1])
s = Session.new("big")
gen = 0
while True:
    gen += 1
    s.unknown["BIG_PAYLOAD"] = f"{gen}:" + chr(97 + gen % 26) * size
    s.unknown["ZZ_GENERATION"] = str(gen)
    s.values["SGLANG_CACHE_DIT_MC"] = str(gen)
    s.save()
    print(gen, flush=True)
"""


def _assert_whole(session: Session, size: int) -> int:
    assert session.load_problems == []
    gen = int(session.unknown["ZZ_GENERATION"])
    assert session.unknown["BIG_PAYLOAD"] == f"{gen}:" + chr(97 + gen % 26) * size
    assert session.values == {"SGLANG_CACHE_DIT_MC": str(gen)}
    return gen


def test_killed_writer_never_leaves_a_torn_file(config_root: Path, clean_env: dict[str, str],
                                                 sessions_path: Path) -> None:
    size = 200_000
    rng = random.Random(20261126)
    last = 0
    for _ in range(10):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(size)], env=clean_env,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        try:
            assert proc.stdout.readline() == "1\n"
            time.sleep(rng.uniform(0.0, 0.3))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=60)
        completed = [int(line) for line in ["1", *proc.stdout.read().split()]]
        proc.stdout.close()
        assert list_sessions() == ["big"]  # a temp file never shows up as a session
        last = _assert_whole(Session.load("big"), size)
        # the old content (the last save that returned) or the new one (the save in flight)
        assert last in (completed[-1], completed[-1] + 1)
    # the next save cleans whatever temp file the killed writers left
    survivor = Session.load("big")
    survivor.save()
    assert [p.name for p in sessions_path.iterdir() if not p.name.endswith(".lock")] == ["big.env"]
    assert _assert_whole(Session.load("big"), size) == last


def test_failed_save_leaves_the_old_file(config_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    session = Session.new("s")
    session.set("SGLANG_CACHE_DIT_MC", "5")
    path = session.save()
    before = path.read_bytes()

    def broken_fsync(fd: int) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    session.set("SGLANG_CACHE_DIT_MC", "6")
    with pytest.raises(SessionError, match="No space left on device"):
        session.save()
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")] == ["s.env"]
    assert session.dirty

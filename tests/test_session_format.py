"""Tests for the session file (``tui/session/file_format.py`` through :class:`Session`): round trip,
header and mode 0600, the shell forms read, comments and unknown names kept in place, problems
reported, listing, stale temp files, symlinks and save-as.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backend.atomic_files import clean_stale_temp_files
from tests.session_helpers import write
from tui.session import (
    Session,
    SessionError,
    list_sessions,
)

# -- round trip and the file ------------------------------------------------------------------


def test_round_trip(config_root: Path, sessions_path: Path) -> None:
    session = Session.new("dev")
    assert (session.exists, session.dirty) == (False, False)
    session.set("SGLANG_CACHE_DIT_ENABLED", "on")
    session.set("SGLANG_CACHE_DIT_RDT", "0.3")
    session.set("SGLANG_DIFFUSION_CACHE_ROOT", '/data/it\'s a "dir" $HOME `x`')
    session.set("SGLANG_KERNEL_API_DUMP_INCLUDE", "*attn*, backend.*")
    session.set("HF_HOME", "/models/hf cache")
    assert session.dirty
    path = session.save()
    assert path == sessions_path / "dev.env"
    assert not session.dirty and session.exists
    loaded = Session.load("dev")
    assert loaded.values == session.values
    assert loaded.unknown == {"HF_HOME": "/models/hf cache"}
    assert loaded.load_problems == []
    assert not loaded.dirty
    assert list_sessions() == ["dev"]


def test_file_is_export_lines_with_a_header_and_mode_0600(config_root: Path) -> None:
    session = Session.new("dev")
    session.set("SGLANG_S3_SECRET_ACCESS_KEY", "abc/DEF+ghi")
    session.set("SGLANG_CACHE_DIT_MC", "5")
    path = session.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# sgl-console session 'dev'")
    assert [line for line in lines if not line.startswith("#")] == [
        "export SGLANG_CACHE_DIT_MC=5",
        "export SGLANG_S3_SECRET_ACCESS_KEY=abc/DEF+ghi",
    ]
    assert [p.name for p in path.parent.iterdir() if not p.name.endswith(".lock")] == ["dev.env"]  # no temp file left behind


def test_mode_0600_even_with_a_permissive_umask(config_root: Path) -> None:
    old = os.umask(0)
    try:
        path = Session.new("open").save()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_load_tolerates_shell_forms(config_root: Path, sessions_path: Path) -> None:
    write(
        sessions_path / "hand.env",
        """
        # written by hand
        SGLANG_CACHE_DIT_FN=3

        export SGLANG_CACHE_DIT_BN='2'
        export   SGLANG_CACHE_DIT_SCM_PRESET="fast"   # trailing comment
        SGLANG_DIFFUSION_CACHE_ROOT='/data/with space'
        export SGLANG_CACHE_DIT_MC=4 SGLANG_CACHE_DIT_WARMUP=6
        \tSGLANG_CACHE_DIT_RDT="0.1"
        """,
    )
    session = Session.load("hand")
    assert session.load_problems == []
    assert session.values == {
        "SGLANG_CACHE_DIT_FN": "3", "SGLANG_CACHE_DIT_BN": "2", "SGLANG_CACHE_DIT_SCM_PRESET": "fast",
        "SGLANG_DIFFUSION_CACHE_ROOT": "/data/with space", "SGLANG_CACHE_DIT_MC": "4",
        "SGLANG_CACHE_DIT_WARMUP": "6", "SGLANG_CACHE_DIT_RDT": "0.1",
    }


def test_comments_and_unknown_names_are_kept_in_place(config_root: Path, sessions_path: Path) -> None:
    write(
        sessions_path / "keep.env",
        """
        # my notes about this run
        export CUDA_VISIBLE_DEVICES=0,1
        export SGLANG_CACHE_DIT_RDT=0.3  # tuned on 2026-11-20
        # storage
        EXTRA_PATH=$HOME/bin
        export SGLANG_CACHE_DIT_MC=3
        """,
    )
    session = Session.load("keep")
    assert session.unknown == {"CUDA_VISIBLE_DEVICES": "0,1", "EXTRA_PATH": "$HOME/bin"}
    session.set("SGLANG_CACHE_DIT_RDT", "0.5")
    session.unset("SGLANG_CACHE_DIT_MC")
    session.set("SGLANG_CACHE_DIT_ENABLED", "true")
    session.save()
    lines = (sessions_path / "keep.env").read_text(encoding="utf-8").splitlines()
    body = [line for line in lines if not line.startswith("# sgl-console") and not line.startswith("# Edit")]
    assert body == [
        "# my notes about this run",
        "export CUDA_VISIBLE_DEVICES=0,1",
        "export SGLANG_CACHE_DIT_RDT=0.5",
        "# storage",
        "EXTRA_PATH=$HOME/bin",  # unchanged unknown line: written back byte for byte
        "export SGLANG_CACHE_DIT_ENABLED=true",
    ]
    again = Session.load("keep")
    assert again.values == {"SGLANG_CACHE_DIT_RDT": "0.5", "SGLANG_CACHE_DIT_ENABLED": "true"}
    assert again.unknown == session.unknown
    # saving twice does not duplicate the header
    again.save()
    assert (sessions_path / "keep.env").read_text(encoding="utf-8").count("# sgl-console session") == 1


def test_invalid_values_and_lines_are_reported_and_kept(config_root: Path, sessions_path: Path) -> None:
    write(
        sessions_path / "bad.env",
        """
        export SGLANG_CACHE_DIT_RDT=abc
        this is not an assignment
        export SGLANG_CACHE_DIT_MC='unterminated
        export SGLANG_S3_ACCESS_KEY_ID='has space'
        export SGLANG_CACHE_DIT_FN=2
        export SGLANG_CACHE_DIT_FN=5
        """,
    )
    session = Session.load("bad")
    assert session.values == {"SGLANG_CACHE_DIT_RDT": "abc", "SGLANG_S3_ACCESS_KEY_ID": "has space",
                              "SGLANG_CACHE_DIT_FN": "5"}
    lines = [p.line() for p in session.load_problems]
    assert lines == [
        "error: bad.env line 2: cannot parse (expected NAME=value, got 'this'); kept as is",
        "error: bad.env line 3: cannot parse (No closing quotation); kept as is",
        "warning: bad.env line 6: SGLANG_CACHE_DIT_FN was already set on line 5; the later value wins",
        "error: SGLANG_CACHE_DIT_RDT='abc' is not valid (float() raises ValueError at run time); allowed: a number (Python float())",
        "error: SGLANG_S3_ACCESS_KEY_ID='********' is not valid; allowed: non-empty text without whitespace",
    ]
    assert "has space" not in repr(session.load_problems)
    # the same problems reach problems(), so a launch is refused
    assert session.has_errors()
    # unparsable lines are not dropped on save
    session.set("SGLANG_CACHE_DIT_RDT", "0.2")
    session.save()
    text = (sessions_path / "bad.env").read_text(encoding="utf-8")
    assert "this is not an assignment\n" in text and "export SGLANG_CACHE_DIT_MC='unterminated\n" in text
    assert "export SGLANG_CACHE_DIT_RDT=0.2\n" in text


def test_quoted_values_may_span_lines(config_root: Path, sessions_path: Path) -> None:
    session = Session.new("multi")
    session.set("SGLANG_KERNEL_API_DUMP_INCLUDE", "*attn*\n*norm*")  # a pattern list may hold a newline
    session.set("NOTE", "line one\nline 'two'\n")
    session.set("SGLANG_CACHE_DIT_MC", "2")
    session.save()
    loaded = Session.load("multi")
    assert loaded.load_problems == []
    assert loaded.values == session.values and loaded.unknown == session.unknown
    loaded.set("SGLANG_CACHE_DIT_MC", "4")
    loaded.save()
    again = Session.load("multi")
    assert again.unknown == {"NOTE": "line one\nline 'two'\n"}
    assert again.values["SGLANG_KERNEL_API_DUMP_INCLUDE"] == "*attn*\n*norm*"


def test_shell_expansion_is_reported(config_root: Path, sessions_path: Path) -> None:
    write(
        sessions_path / "exp.env",
        """
        export SGLANG_DIFFUSION_CACHE_ROOT="$HOME/cache"
        export SGLANG_KERNEL_API_LOGDEST='/tmp/$literal.log'
        """,
    )
    session = Session.load("exp")
    assert [p.line() for p in session.load_problems] == [
        "warning: exp.env line 1: SGLANG_DIFFUSION_CACHE_ROOT uses shell expansion ($, ` or ~), which the console "
        "does not evaluate; the value is taken literally"
    ]
    assert session.values["SGLANG_KERNEL_API_LOGDEST"] == "/tmp/$literal.log"


def test_load_of_a_missing_session(config_root: Path) -> None:
    with pytest.raises(SessionError, match="no session named 'ghost'"):
        Session.load("ghost")
    opened = Session.open("ghost")
    assert (opened.values, opened.exists) == ({}, False)


def test_list_sessions_ignores_temp_and_foreign_files(config_root: Path, sessions_path: Path) -> None:
    assert list_sessions() == []
    Session.new("b").save()
    Session.new("a").save()
    for junk in (".a.env.123.x.tmp", "notes.txt", ".hidden.env", "defaults.env", "bad name.env"):
        (sessions_path / junk).write_text("", encoding="utf-8")
    (sessions_path / "dir.env").mkdir()
    assert list_sessions() == ["a", "b"]
    assert Session.list_sessions() == ["a", "b"]


def test_save_removes_stale_temp_files_of_dead_writers(config_root: Path, sessions_path: Path) -> None:
    Session.new("s").save()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale = sessions_path / f".s.env.{dead}.abc.tmp"
    live = sessions_path / f".s.env.{os.getppid()}.def.tmp"  # a live writer's file is left alone
    other = sessions_path / f".t.env.{dead}.ghi.tmp"  # another session's file is not ours to clean
    for p in (stale, live, other):
        p.write_text("partial", encoding="utf-8")
    Session.load("s").save()
    assert not stale.exists()
    assert live.exists() and other.exists()
    old = time.time() - 7200
    os.utime(live, (old, old))  # an hour-old temp file is stale whoever wrote it
    assert clean_stale_temp_files(sessions_path / "s.env") == [live]


def test_temp_files_without_a_pid_are_stale(config_root: Path, sessions_path: Path) -> None:
    Session.new("s").save()
    odd = sessions_path / ".s.env.notapid.tmp"
    odd.write_text("partial", encoding="utf-8")
    Session.load("s").save()
    assert not odd.exists()


def test_save_through_a_symlink_keeps_the_link(
    config_root: Path, sessions_path: Path, tmp_path: Path
) -> None:
    real = tmp_path / "dotfiles" / "dev.env"
    real.parent.mkdir()
    real.write_text("export SGLANG_CACHE_DIT_MC=1\n", encoding="utf-8")
    sessions_path.mkdir(parents=True)
    (sessions_path / "dev.env").symlink_to(real)
    session = Session.load("dev")
    session.set("SGLANG_CACHE_DIT_MC", "2")
    session.save()
    assert (sessions_path / "dev.env").is_symlink()
    assert "export SGLANG_CACHE_DIT_MC=2" in real.read_text(encoding="utf-8")
    assert stat.S_IMODE(real.stat().st_mode) == 0o600


def test_save_as_renames(config_root: Path) -> None:
    session = Session.new("one")
    session.set("SGLANG_CACHE_DIT_MC", "7")
    session.save()
    session.save_as("two")
    assert session.name == "two"
    assert list_sessions() == ["one", "two"]
    assert Session.load("two").values == {"SGLANG_CACHE_DIT_MC": "7"}
    with pytest.raises(SessionError):
        session.save_as("../three")
    assert session.name == "two"


def test_an_unquoted_tilde_is_reported_as_bash_expands_it(config_root: Path, sessions_path: Path) -> None:
    write(
        sessions_path / "tilde.env",
        """
        export SGLANG_DIFFUSION_CACHE_ROOT=~/cache
        export SGLANG_KERNEL_API_LOGDEST='~/literal.log'
        export SGLANG_DIFFUSION_TARGET_DEVICE=cpu~
        """,
    )
    session = Session.load("tilde")
    assert [p.names for p in session.load_problems] == [("SGLANG_DIFFUSION_CACHE_ROOT",)]
    assert "~" in session.load_problems[0].message
    assert session.values["SGLANG_KERNEL_API_LOGDEST"] == "~/literal.log"

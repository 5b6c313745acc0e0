"""Tests for ``tui/session.py``: names, the file format, load tolerance, the default rule,
diffs, and the two promises of the file: real bash reads it back unchanged, and a writer
killed at any moment leaves the old file or the new one.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from backend.envs import REGISTRY, EnvError, Source
from tui.atomic_file import clean_stale_temp_files
from tui.session import (
    Session,
    SessionError,
    list_sessions,
    sessions_dir,
    validate_name,
)

BASH = shutil.which("bash")
needs_bash = pytest.mark.skipif(BASH is None, reason="bash is not installed")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def bash_env(script_file: Path, base: dict[str, str]) -> dict[str, str]:
    """Source ``script_file`` in a real bash and return the environment it exports."""
    assert BASH is not None
    out = subprocess.run([BASH, "--noprofile", "--norc", "-c", 'source "$1" && env -0', "bash", str(script_file)],
                         env=base, capture_output=True, check=True, timeout=60).stdout
    pairs = [item.split(b"=", 1) for item in out.split(b"\0") if item]
    return {k.decode(): v.decode("utf-8", "surrogateescape") for k, v in pairs}


# -- names and places ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["default", "wan2.2-fast", "A_b.c-1", "x" * 100])
def test_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(("name", "message"), [
    ("", "a session name must not be empty"),
    ("../etc", "session name '../etc' must not contain a path separator"),
    ("a/b", "session name 'a/b' must not contain a path separator"),
    (".hidden", "session name '.hidden' is not valid: use letters, digits, '.', '_' and '-', starting with a "
                "letter or digit (at most 100 characters)"),
    ("two words", "session name 'two words' is not valid: use letters, digits, '.', '_' and '-', starting with a "
                  "letter or digit (at most 100 characters)"),
    ("x" * 101, f"session name {'x' * 101!r} is not valid: use letters, digits, '.', '_' and '-', starting with a "
                "letter or digit (at most 100 characters)"),
    ("defaults", "'defaults' is reserved (it means the registry defaults in 'env diff')"),
])
def test_invalid_names_are_refused_with_a_clear_message(name: str, message: str) -> None:
    with pytest.raises(SessionError) as info:
        validate_name(name)
    assert str(info.value) == message
    with pytest.raises(SessionError):
        Session.new(name)


def test_sessions_dir_follows_the_config_root() -> None:
    assert sessions_dir({"SGLANG_DIFFUSION_CONFIG_ROOT": "/srv/cfg"}) == Path("/srv/cfg/console/sessions")
    assert sessions_dir({"HOME": "/h"}) == Path("/h/.config/sgl_diffusion/console/sessions")
    assert sessions_dir({"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == Path("/x/sgl_diffusion/console/sessions")
    # an invalid root falls back to the default instead of writing somewhere odd
    assert sessions_dir({"HOME": "/h", "SGLANG_DIFFUSION_CONFIG_ROOT": "a\nb"}) == Path(
        "/h/.config/sgl_diffusion/console/sessions"
    )


def test_an_explicit_environ_is_used_for_the_path(tmp_path: Path) -> None:
    env = {"SGLANG_DIFFUSION_CONFIG_ROOT": str(tmp_path / "elsewhere")}
    session = Session.new("one", env)
    session.set("SGLANG_CACHE_DIT_MC", "5")
    assert session.save() == tmp_path / "elsewhere" / "console" / "sessions" / "one.env"
    assert Session.load("one", env).values == {"SGLANG_CACHE_DIT_MC": "5"}
    assert list_sessions(env) == ["one"]


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
        "warning: exp.env line 1: SGLANG_DIFFUSION_CACHE_ROOT uses shell expansion ($ or `), which the console "
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


# -- set / unset and the default rule ---------------------------------------------------------


def test_set_refuses_an_invalid_value_and_changes_nothing(config_root: Path) -> None:
    session = Session.new("s")
    session.set("SGLANG_CACHE_DIT_RDT", "0.3")
    session.save()
    with pytest.raises(EnvError) as info:
        session.set("SGLANG_CACHE_DIT_RDT", "abc")
    assert (
        str(info.value)
        == "SGLANG_CACHE_DIT_RDT='abc' is not valid (float() raises ValueError at run time); allowed: a number (Python float())"
    )
    assert session.values == {"SGLANG_CACHE_DIT_RDT": "0.3"}
    assert not session.dirty


def test_set_unknown_name_under_a_managed_prefix_is_refused_with_a_suggestion(config_root: Path) -> None:
    session = Session.new("s")
    with pytest.raises(EnvError, match=r"did you mean SGLANG_CACHE_DIT_RDT\?"):
        session.set("SGLANG_CACHE_DIT_RTD", "0.3")
    with pytest.raises(EnvError, match="not a variable name"):
        session.set("BAD-NAME", "1")
    assert (session.values, session.unknown, session.dirty) == ({}, {}, False)
    session.set("CUDA_VISIBLE_DEVICES", "0")
    assert session.unknown == {"CUDA_VISIBLE_DEVICES": "0"}


def test_update_is_all_or_nothing(config_root: Path) -> None:
    session = Session.new("s")
    with pytest.raises(EnvError):
        session.update({"SGLANG_CACHE_DIT_MC": "5", "SGLANG_CACHE_DIT_FN": "1.5"})
    assert session.values == {} and not session.dirty
    session.update({"SGLANG_CACHE_DIT_MC": "5", "SGLANG_CACHE_DIT_FN": "2"})
    assert session.values == {"SGLANG_CACHE_DIT_MC": "5", "SGLANG_CACHE_DIT_FN": "2"}


def test_empty_string_unsets(config_root: Path) -> None:
    session = Session.new("s")
    session.set("SGLANG_CACHE_DIT_MC", "5")
    session.set("SGLANG_CACHE_DIT_MC", "")
    session.set("OTHER", "x")
    session.set("OTHER", "")
    assert session.values == {} and session.unknown == {}
    assert session.get("SGLANG_CACHE_DIT_MC") is None


def test_setting_the_default_removes_the_variable(config_root: Path) -> None:
    """A session is the set of values that differ from the defaults."""
    session = Session.new("s", {"HOME": "/h"})
    session.set("SGLANG_CACHE_DIT_RDT", "0.5")
    session.set("SGLANG_CACHE_DIT_RDT", "0.24")
    session.set("SGLANG_CACHE_DIT_ENABLED", "off")  # false, the default, in another spelling
    session.set("SGLANG_DIFFUSION_WORKER_MULTIPROC_METHOD", "fork")
    assert session.values == {}


def test_setting_the_default_is_kept_when_the_environment_overrides_it(config_root: Path) -> None:
    session = Session.new("s", {"HOME": "/h", "SGLANG_CACHE_DIT_ENABLED": "true"})
    session.set("SGLANG_CACHE_DIT_ENABLED", "false")
    assert session.values == {"SGLANG_CACHE_DIT_ENABLED": "false"}
    assert session.resolved()["SGLANG_CACHE_DIT_ENABLED"].value is False


def test_pinned_secondary_and_xdg_values_are_kept(config_root: Path) -> None:
    session = Session.new("s", {"HOME": "/h"})
    session.set("SGLANG_CACHE_DIT_SECONDARY_FN", "1")  # equals the inherited value: still a pin
    session.set("SGLANG_DIFFUSION_CACHE_ROOT", "/h/.cache/sgl_diffusion")  # equals today's XDG default
    assert session.values == {"SGLANG_CACHE_DIT_SECONDARY_FN": "1",
                              "SGLANG_DIFFUSION_CACHE_ROOT": "/h/.cache/sgl_diffusion"}


def test_a_default_value_already_in_the_file_is_kept(config_root: Path, sessions_path: Path) -> None:
    write(sessions_path / "d.env", "export SGLANG_CACHE_DIT_RDT=0.24\n")
    session = Session.load("d")
    assert session.values == {"SGLANG_CACHE_DIT_RDT": "0.24"}
    session.save()
    assert Session.load("d").values == {"SGLANG_CACHE_DIT_RDT": "0.24"}


# -- meaning: problems, resolution, child environment, diff -----------------------------------


def test_problems_delegate_to_check(config_root: Path) -> None:
    session = Session.new("s", {"HOME": "/h"})
    session.set("SGLANG_CLOUD_STORAGE_TYPE", "s3")
    session.set("SGLANG_CACHE_DIT_TS_ORDER", "2")
    assert [p.line() for p in session.problems(host_platforms=frozenset({"cuda", "cpu"}))] == [
        "error: SGLANG_CLOUD_STORAGE_TYPE=s3 needs SGLANG_S3_BUCKET_NAME (storage on without a bucket)",
        "warning: SGLANG_CACHE_DIT_TS_ORDER has no effect while SGLANG_CACHE_DIT_TAYLORSEER is off",
    ]
    session.set("SGLANG_S3_BUCKET_NAME", "outputs")
    assert not session.has_errors(host_platforms=frozenset({"cuda", "cpu"}))


def test_resolved_sources(config_root: Path) -> None:
    session = Session.new("s", {"HOME": "/h", "SGLANG_CACHE_DIT_MC": "6"})
    session.set("SGLANG_CACHE_DIT_FN", "4")
    r = session.resolved()
    assert (r["SGLANG_CACHE_DIT_FN"].source, r["SGLANG_CACHE_DIT_FN"].value) == (Source.SESSION, 4)
    assert (r["SGLANG_CACHE_DIT_SECONDARY_FN"].source, r["SGLANG_CACHE_DIT_SECONDARY_FN"].value) == (
        Source.INHERITED,
        4,
    )
    assert r["SGLANG_CACHE_DIT_MC"].source is Source.ENVIRONMENT
    assert r["SGLANG_CACHE_DIT_BN"].source is Source.DEFAULT


def test_child_env_is_inherited_plus_session(config_root: Path) -> None:
    session = Session.new("s")
    session.set("SGLANG_CACHE_DIT_MC", "6")
    session.set("HF_HOME", "/hf")
    env = session.child_env({"PATH": "/bin", "SGLANG_CACHE_DIT_MC": "1", "SGLANG_CACHE_DIT_FN": "2"})
    assert env == {"PATH": "/bin", "SGLANG_CACHE_DIT_MC": "6", "SGLANG_CACHE_DIT_FN": "2", "HF_HOME": "/hf"}


def test_from_environ_takes_managed_variables_only(config_root: Path) -> None:
    env = {"HOME": "/h", "SGLANG_CACHE_DIT_MC": "6", "SGLANG_CACHE_DIT_FN": "", "PATH": "/bin",
           "SGLANG_CACHE_DIT_RDT": "abc"}
    session = Session.from_environ("imp", env)
    assert session.values == {"SGLANG_CACHE_DIT_MC": "6", "SGLANG_CACHE_DIT_RDT": "abc"}
    assert session.unknown == {}
    assert session.dirty and not session.exists
    assert [p.line() for p in session.load_problems] == [
        "error: SGLANG_CACHE_DIT_RDT='abc' is not valid (float() raises ValueError at run time); allowed: a number (Python float())"
    ]


def test_diff_against_defaults_and_another_session(config_root: Path) -> None:
    a = Session.new("a", {"HOME": "/h"})
    a.update({"SGLANG_CACHE_DIT_RDT": "0.3", "SGLANG_CACHE_DIT_ENABLED": "1",
              "SGLANG_S3_SECRET_ACCESS_KEY": "topsecret1", "SGLANG_CACHE_DIT_SECONDARY_MC": "2", "X_EXTRA": "1"})
    rows = {r.name: (r.left, r.right) for r in a.diff(None)}
    assert rows == {
        "SGLANG_CACHE_DIT_ENABLED": ("1", "default: false"),
        "SGLANG_CACHE_DIT_RDT": ("0.3", "default: 0.24"),
        "SGLANG_CACHE_DIT_SECONDARY_MC": ("2", "inherits SGLANG_CACHE_DIT_MC"),
        "SGLANG_S3_SECRET_ACCESS_KEY": ("********", "unset"),
        "X_EXTRA": ("1", "unset"),
    }
    b = Session.new("b", {"HOME": "/h"})
    b.update({"SGLANG_CACHE_DIT_RDT": "0.30", "SGLANG_CACHE_DIT_ENABLED": "true",
              "SGLANG_S3_SECRET_ACCESS_KEY": "topsecret2", "SGLANG_CACHE_DIT_MC": "1"})
    diff = a.diff(b)
    assert [(r.name, r.left, r.right, r.left_set, r.right_set, r.secret) for r in diff] == [
        ("SGLANG_CACHE_DIT_MC", "default: 3", "1", False, True, False),
        ("SGLANG_CACHE_DIT_SECONDARY_MC", "2", "inherits SGLANG_CACHE_DIT_MC", True, False, False),
        ("SGLANG_S3_SECRET_ACCESS_KEY", "********", "********", True, True, True),
        ("X_EXTRA", "1", "unset", True, False, False),
    ]  # 0.3 == 0.30 and 1 == true: same values, no rows
    assert "topsecret" not in repr(diff) and "topsecret" not in repr(a.diff(None))
    assert a.diff(a) == []


def test_export_text_is_clean_and_complete(config_root: Path) -> None:
    session = Session.new("s")
    session.update({"SGLANG_S3_ACCESS_KEY_ID": "AKIA123", "SGLANG_CACHE_DIT_FN": "3", "ZED": "a b"})
    text = session.export_text()
    assert text.splitlines()[1:] == [
        "# Edit freely: comments and unknown names are kept; values are checked when loaded.",
        "export SGLANG_CACHE_DIT_FN=3",
        "export SGLANG_S3_ACCESS_KEY_ID=AKIA123",
        "export ZED='a b'",
    ]


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

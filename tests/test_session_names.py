"""Tests for ``tui/session/names.py``: what a session may be called and where its file lives.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tui.session import (
    Session,
    SessionError,
    list_sessions,
    sessions_dir,
    validate_name,
)

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

"""Tests for ``tui/session/model.py``: set/unset and the default rule, what the values mean
(problems, resolution, the child environment), diffs and export.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.envs import EnvError, Source
from tests.session_helpers import write
from tui.session import (
    Session,
)

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

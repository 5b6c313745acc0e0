"""Tests for ``backend/envs/`` in strict mode, one variable at a time: defaults, valid and invalid
values with their exact messages, empty strings, secrets, secondary inheritance, XDG defaults, and
properties over any string.  The upstream (default) reading is tested in ``test_envs_upstream.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import envs
from backend.envs import REGISTRY, EnvError, Source
from tests.envs_invalid_values import INVALID
from tests.envs_tables import (
    BASE_ENV,
    CUDA_HOST,
    DEFAULTS,
    SECONDARY_TWINS,
    VALID,
    XDG,
    messages,
)

# -- one variable at a time ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_default(name: str) -> None:
    var = REGISTRY[name]
    typed, shown = DEFAULTS[name]
    assert var.describe_default(BASE_ENV) == shown
    if typed is XDG:
        assert var.default_value(BASE_ENV).startswith("/home/op/.")
        return
    assert var.default_value(BASE_ENV) == typed
    resolved = envs.resolve({}, BASE_ENV)[name]
    assert resolved.raw is None
    assert resolved.source is (Source.INHERITED if var.inherits_from else Source.DEFAULT)
    if not var.inherits_from:
        assert resolved.value == typed


@pytest.mark.parametrize(("name", "raw", "parsed"), [(n, r, p) for n, rows in VALID.items() for r, p in rows])
def test_valid_value(name: str, raw: str, parsed: Any) -> None:
    var = REGISTRY[name]
    assert var.parse(raw) == parsed
    resolved = envs.resolve({name: raw}, BASE_ENV)[name]
    assert (resolved.source, resolved.value, resolved.error) == (Source.SESSION, parsed, None)
    # The canonical text parses back to the same value (what the session file and exports rely on).
    assert var.parse(var.format(parsed)) == parsed


@pytest.mark.parametrize(("name", "raw", "message"), INVALID)
def test_invalid_value_exact_message(name: str, raw: str, message: str) -> None:
    with pytest.raises(EnvError) as info:
        REGISTRY[name].parse(raw)
    assert str(info.value) == message
    assert info.value.name == name


@pytest.mark.parametrize(("name", "raw", "message"), INVALID)
def test_invalid_value_is_an_error_in_check_and_falls_back(name: str, raw: str, message: str) -> None:
    resolved = envs.resolve({name: raw}, BASE_ENV)[name]
    assert resolved.error == message
    assert resolved.source is Source.SESSION
    errors = [p for p in envs.check({name: raw}, BASE_ENV, CUDA_HOST) if p.is_error]
    assert any(p.message == message and p.names == (name,) for p in errors)


def test_load_settings_raises_the_same_exact_message() -> None:
    with pytest.raises(EnvError, match=r"^SGLANG_CACHE_DIT_RDT='abc' is not valid \(not a number\)"):
        envs.load_settings({**BASE_ENV, "SGLANG_CACHE_DIT_RDT": "abc"})


@pytest.mark.parametrize("name", sorted(n for n, v in REGISTRY.items() if v.secret))
def test_secret_never_in_error_or_display(name: str) -> None:
    raw = "leaky secret value"
    with pytest.raises(EnvError) as info:
        REGISTRY[name].parse(raw)
    assert "leaky" not in str(info.value)
    assert REGISTRY[name].display("AKIAREALSECRET") == "********"
    rows = envs.to_json_safe(envs.resolve({name: "AKIAREALSECRET"}, BASE_ENV))
    assert "AKIAREALSECRET" not in repr(rows)
    assert "AKIAREALSECRET" not in repr(envs.check({name: raw}, BASE_ENV, CUDA_HOST))


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_empty_string_means_unset_with_a_warning(name: str) -> None:
    for session, environ in (({name: ""}, BASE_ENV), ({}, {**BASE_ENV, name: ""})):
        resolved = envs.resolve(session, environ)[name]
        assert resolved.raw is None
        assert resolved.source in (Source.DEFAULT, Source.INHERITED)
        assert resolved.error is None
        problems = envs.check(session, environ, CUDA_HOST)
        assert f"warning: {name} is set but empty; treated as unset" in messages(problems)
        assert not [p for p in problems if p.is_error and name in p.names]


def test_empty_session_value_does_not_hide_the_environment() -> None:
    resolved = envs.resolve({"SGLANG_CACHE_DIT_FN": ""}, {**BASE_ENV, "SGLANG_CACHE_DIT_FN": "6"})
    assert (resolved["SGLANG_CACHE_DIT_FN"].source, resolved["SGLANG_CACHE_DIT_FN"].value) == (
        Source.ENVIRONMENT,
        6,
    )


def test_session_wins_over_environment() -> None:
    resolved = envs.resolve({"SGLANG_CACHE_DIT_MC": "1"}, {**BASE_ENV, "SGLANG_CACHE_DIT_MC": "9"})
    assert (resolved["SGLANG_CACHE_DIT_MC"].source, resolved["SGLANG_CACHE_DIT_MC"].value) == (
        Source.SESSION,
        1,
    )


def test_too_many_digits_is_an_env_error_not_a_value_error() -> None:
    digits = "9" * 5000
    for name in ("SGLANG_CACHE_DIT_FN", "SGLANG_KERNEL_API_LOGLEVEL", "SGLANG_CACHE_DIT_SCM_CACHE_BINS"):
        with pytest.raises(EnvError) as info:
            REGISTRY[name].parse(digits)
        assert str(info.value).startswith(f"{name}=")


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_nul_is_refused_by_every_variable(name: str) -> None:
    """No environment variable can carry a NUL: every kind must refuse it, not only paths."""
    good = VALID[name][0][0]
    with pytest.raises(EnvError) as info:
        REGISTRY[name].parse(good + "\0")
    assert str(info.value).startswith(f"{name}=")


# -- secondary transformer: inherits its primary twin --------------------------------------


@pytest.mark.parametrize("secondary", sorted(SECONDARY_TWINS))
def test_secondary_inherits_primary(secondary: str) -> None:
    primary, raw, value = SECONDARY_TWINS[secondary]
    assert REGISTRY[secondary].inherits_from == primary
    assert REGISTRY[secondary].kind == REGISTRY[primary].kind
    # unset primary: the secondary shows the primary's default, as inherited
    r = envs.resolve({}, BASE_ENV)[secondary]
    assert (r.source, r.value) == (Source.INHERITED, DEFAULTS[primary][0])
    # primary set in the session or in the environment: inherited
    for session, environ in (({primary: raw}, BASE_ENV), ({}, {**BASE_ENV, primary: raw})):
        r = envs.resolve(session, environ)[secondary]
        assert (r.source, r.value, r.raw) == (Source.INHERITED, value, None)
    # an explicit secondary value overrides the primary
    explicit = VALID[secondary][0]
    r = envs.resolve({primary: raw, secondary: explicit[0]}, BASE_ENV)[secondary]
    assert (r.source, r.value) == (Source.SESSION, explicit[1])


def test_secondary_inherits_the_default_when_the_primary_is_invalid() -> None:
    r = envs.resolve({"SGLANG_CACHE_DIT_RDT": "abc"}, BASE_ENV)["SGLANG_CACHE_DIT_SECONDARY_RDT"]
    assert (r.source, r.value) == (Source.INHERITED, 0.24)


# -- XDG-derived defaults --------------------------------------------------------------------


def test_xdg_defaults() -> None:
    cache, config = REGISTRY["SGLANG_DIFFUSION_CACHE_ROOT"], REGISTRY["SGLANG_DIFFUSION_CONFIG_ROOT"]
    assert cache.default_value({"HOME": "/h"}) == "/h/.cache/sgl_diffusion"
    assert config.default_value({"HOME": "/h"}) == "/h/.config/sgl_diffusion"
    assert cache.default_value({"HOME": "/h", "XDG_CACHE_HOME": "/x/c"}) == "/x/c/sgl_diffusion"
    assert config.default_value({"HOME": "/h", "XDG_CONFIG_HOME": "/x/g"}) == "/x/g/sgl_diffusion"
    # an empty XDG variable counts as unset (SGLang would build a relative path)
    assert config.default_value({"HOME": "/h", "XDG_CONFIG_HOME": ""}) == "/h/.config/sgl_diffusion"


# -- property: any string is accepted or refused with a message naming the variable -----------


@settings(max_examples=400, deadline=None)
@given(name=st.sampled_from(sorted(REGISTRY)), raw=st.text(max_size=40))
def test_any_string_is_accepted_or_refused_with_an_env_error(name: str, raw: str) -> None:
    var = REGISTRY[name]
    try:
        var.parse(raw)
    except EnvError as exc:
        assert exc.name == name
        assert str(exc).startswith(f"{name}=")
    resolved = envs.resolve({name: raw}, BASE_ENV)[name]  # never raises either
    assert resolved.var is var


@settings(max_examples=200, deadline=None)
@given(name=st.sampled_from(sorted(REGISTRY)),
       raw=st.one_of(st.from_regex(r"[+-]?\d{1,30}(\.\d{0,5})?([eE][+-]?\d{1,4})?", fullmatch=True),
                     st.from_regex(r"[ ,0-9a-zA-Z_*.:/%-]{0,30}", fullmatch=True)))
def test_number_and_list_shaped_strings_never_raise_anything_else(name: str, raw: str) -> None:
    try:
        REGISTRY[name].parse(raw)
    except EnvError as exc:
        assert str(exc).startswith(f"{name}=")


def test_cache_root_is_resolved_in_one_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set: as given, ``~`` expanded; unset: the XDG default of the environment passed, not the process's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert envs.cache_root({"SGLANG_DIFFUSION_CACHE_ROOT": str(tmp_path / "c")}) == str(tmp_path / "c")
    assert envs.cache_root({"SGLANG_DIFFUSION_CACHE_ROOT": "~/runs"}) == str(tmp_path / "home" / "runs")
    assert envs.cache_root({"XDG_CACHE_HOME": str(tmp_path / "xdg")}) == str(tmp_path / "xdg" / "sgl_diffusion")

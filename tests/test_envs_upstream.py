"""The upstream (default) reading of every variable, and the extraction of an sglang release's variables.

The truth sets and number formats below are sglang 0.5.23's (``get_bool_env_var`` in
``multimodal_gen/runtime/utils/common.py``; ``int()``/``float()`` in ``envs.py``); the release's own
variables come from ``tests/data/sglang-0.5.23-variables.json``, the output of
``backend.envs.upstream.extract`` run on the 0.5.23 wheel (``scripts/extract_sglang_variables.py``).
``test_upstream_registry.py`` checks the same against the installed wheel itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend import envs
from backend.envs import REGISTRY, upstream
from backend.envs.declarations import install_discovered, remove_discovered

DATA = Path(__file__).parent / "data" / "sglang-0.5.23-variables.json"
BASE_ENV = {"HOME": "/home/op"}
CUDA_HOST = frozenset({"cuda", "cpu"})
UPSTREAM_TRUE = ("1", "true", "yes", "y", "t", "on")
UPSTREAM_FALSE = ("0", "false", "no", "n", "f", "off", "")
INT_FORMATS = {"-1": -1, "0": 0, "+3": 3, " 7 ": 7, "1_0": 10, "0012": 12}
FLOAT_FORMATS = {"1e-8": 1e-8, "0": 0.0, "-0.5": -0.5, " 0.3 ": 0.3, "1_0.5": 10.5, ".5": 0.5, "7": 7.0}


@pytest.fixture(scope="module")
def release() -> upstream.Release:
    return upstream.Release.from_json(DATA.read_text(encoding="utf-8"))


@pytest.fixture
def discovered(release: upstream.Release) -> Iterator[list[envs.EnvVar[Any]]]:
    added = install_discovered(upstream.to_envvars(release))
    yield added
    remove_discovered()


def errors_for(name: str, raw: str, **more: str) -> list[str]:
    problems = envs.check({name: raw, **more}, BASE_ENV, CUDA_HOST, strict=False)
    return [p.message for p in problems if p.is_error and name in p.names]


def kinds_of(release: upstream.Release, type_name: str) -> list[str]:
    return [v.name for v in release.variables if v.type == type_name]


# -- every value the release accepts is accepted ------------------------------------------


@pytest.mark.usefixtures("discovered")
def test_every_boolean_accepts_the_release_truth_set(release: upstream.Release) -> None:
    names = kinds_of(release, "bool")
    assert len(names) > 30
    for name in names:
        for word in UPSTREAM_TRUE + UPSTREAM_FALSE:
            for raw in {word, word.upper(), f" {word.title()} "}:
                assert errors_for(name, raw) == [], (name, raw)
                value = envs.resolve({name: raw}, BASE_ENV, strict=False)[name].value
                assert value is (word in UPSTREAM_TRUE), (name, raw)


@pytest.mark.usefixtures("discovered")
def test_every_integer_accepts_python_int_formats(release: upstream.Release) -> None:
    names = kinds_of(release, "int")
    assert len(names) > 20
    for name in names:
        for raw, expected in INT_FORMATS.items():
            assert errors_for(name, raw) == [], (name, raw)
            assert envs.resolve({name: raw}, BASE_ENV, strict=False)[name].value == expected
        for raw in ("1.0", "abc", ""):
            assert errors_for(name, raw), (name, raw)  # int() raises at run time


@pytest.mark.usefixtures("discovered")
def test_every_float_accepts_python_float_formats(release: upstream.Release) -> None:
    names = kinds_of(release, "float")
    assert names
    for name in names:
        for raw, expected in FLOAT_FORMATS.items():
            assert errors_for(name, raw) == [], (name, raw)
            assert envs.resolve({name: raw}, BASE_ENV, strict=False)[name].value == pytest.approx(expected)
        assert errors_for(name, "abc") and errors_for(name, "")


@pytest.mark.parametrize(("name", "raw", "value"), [
    ("SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND", "auto", "auto"),
    ("SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND", "trtllm", "flashinfer_trtllm"),
    ("SGLANG_DIFFUSION_FLASHINFER_FP4_GEMM_BACKEND", "cudnn", "flashinfer_cudnn"),
    ("SGLANG_KERNEL_API_LOGLEVEL", "2", 2),
    ("SGLANG_KERNEL_API_LOGLEVEL", "-1", -1),
    ("SGLANG_CACHE_DIT_FN", "-1", -1),
    ("SGLANG_CACHE_DIT_RDT", "0", 0.0),
    ("SGLANG_CACHE_DIT_TS_ORDER", "3", 3),
    ("SGLANG_CACHE_DIT_SCM_PRESET", "Fast", "Fast"),
    ("SGLANG_USE_ROCM_VAE", "y", True),
    ("SGLANG_CACHE_DIT_ENABLED", "t", True),
    ("SGLANG_DIFFUSION_STAGE_LOGGING", "n", False),
])
def test_values_the_console_used_to_refuse_are_accepted(name: str, raw: str, value: Any) -> None:
    assert errors_for(name, raw) == []
    assert envs.resolve({name: raw}, BASE_ENV, strict=False)[name].value == value
    with pytest.raises(envs.EnvError):  # ... and strict mode keeps the old refusal
        REGISTRY[name].parse(raw) if raw not in ("y", "t", "n") else envs.BoolKind().parse(name, raw)


@pytest.mark.parametrize(("name", "raw", "says"), [
    ("SGLANG_KERNEL_API_LOGLEVEL", "2", "behaves as level 1"),
    ("SGLANG_KERNEL_API_LOGLEVEL", "4", "behaves as level 3"),
    ("SGLANG_KERNEL_API_LOGLEVEL", "-1", "behaves as level 1"),  # -1 != 0: the logger is on (0.5.23 source)
    ("SGLANG_KERNEL_API_LOGLEVEL", "12", "behaves as level 10"),
    ("SGLANG_CACHE_DIT_SCM_PRESET", "Fast", "did you mean 'fast'"),
    ("SGLANG_USE_RUNAI_MODEL_STREAMER", "", "reads it as false"),
    ("SGLANG_USE_ROCM_VAE", "maybe", "reads it as false"),
    ("SGLANG_CACHE_DIT_FN", "-1", "passes -1 on unchecked"),
])
def test_surprising_values_warn_with_what_the_runtime_does(name: str, raw: str, says: str) -> None:
    problems = envs.check({name: raw}, BASE_ENV, CUDA_HOST, strict=False)
    assert [p for p in problems if p.is_error and name in p.names] == []
    assert any(says in p.message for p in problems if not p.is_error), [p.line() for p in problems]


def test_empty_runai_streamer_is_false_not_the_default_true() -> None:
    settings = envs.load_settings({**BASE_ENV, "SGLANG_USE_RUNAI_MODEL_STREAMER": ""}, strict=False)
    assert settings[envs.USE_RUNAI_MODEL_STREAMER] is False
    strict = envs.load_settings({**BASE_ENV, "SGLANG_USE_RUNAI_MODEL_STREAMER": ""}, strict=True)
    assert strict[envs.USE_RUNAI_MODEL_STREAMER] is True


def test_an_empty_secondary_value_is_an_error_as_upstream_raises() -> None:
    found = errors_for("SGLANG_CACHE_DIT_SECONDARY_FN", "")
    assert found and "int() raises" in found[0]
    unset = envs.resolve({"SGLANG_CACHE_DIT_FN": "3"}, BASE_ENV, strict=False)["SGLANG_CACHE_DIT_SECONDARY_FN"]
    assert (unset.value, unset.source) == (3, envs.Source.INHERITED)


@pytest.mark.parametrize(("name", "raw", "says"), [
    ("SGLANG_CLOUD_STORAGE_TYPE", "gcs", "silently ignores"),
    ("SGLANG_KERNEL_API_LOGLEVEL", "verbose", "silently keeps logging off"),
    ("SGLANG_CACHE_DIT_SCM_COMPUTE_BINS", "8,x", "turns SCM off"),
    ("SGLANG_CACHE_DIT_MC", "3.5", "int() raises"),
])
def test_what_would_crash_or_be_ignored_stays_an_error(name: str, raw: str, says: str) -> None:
    found = errors_for(name, raw)
    assert found and says in found[0]


def test_scm_preset_of_another_case_is_an_error_only_when_cache_dit_runs() -> None:
    assert errors_for("SGLANG_CACHE_DIT_SCM_PRESET", "Fast") == []
    found = errors_for("SGLANG_CACHE_DIT_SCM_PRESET", "Fast", SGLANG_CACHE_DIT_ENABLED="1")
    assert found and "raises ValueError at the first request" in found[0]


def test_the_backend_reads_with_the_same_semantics() -> None:
    settings = envs.load_settings({**BASE_ENV, "SGLANG_CACHE_DIT_ENABLED": "Y", "SGLANG_CACHE_DIT_TS_ORDER": "3",
                                   "SGLANG_KERNEL_API_LOGLEVEL": "2"})
    assert (settings[envs.CACHE_DIT_ENABLED], settings[envs.CACHE_DIT_TS_ORDER], settings[envs.KERNEL_API_LOGLEVEL]) == (
        True, 3, 2)
    with pytest.raises(envs.EnvError, match="SGLANG_CACHE_DIT_ENABLED"):
        envs.load_settings({**BASE_ENV, "SGLANG_CACHE_DIT_ENABLED": "Y", envs.STRICT_VAR: "1"})


# -- the extraction ------------------------------------------------------------------------


def test_release_data_holds_what_the_issue_found(release: upstream.Release) -> None:
    declared = [v for v in release.variables if v.where == upstream.ENVS_FILE]
    assert len(declared) == 88
    names = release.names()
    for name in ("SGLANG_CACHE_DIT_DMD", "SGLANG_CACHE_DIT_DMD_HISTORY", "SGLANG_DIFFUSION_PLATFORM_OVERRIDE",
                 "SGLANG_DIFFUSION_HOST_SPILL_DIR", "SGLANG_DIFFUSION_CFG_GATE_STEP",
                 "SGLANG_DIFFUSION_ENABLE_MXFP8_ATTENTION", "SGLANG_PERF_LOG_DIR",
                 "SGLANG_DIFFUSION_SYNC_STAGE_PROFILING", "SGLANG_TORCH_PROFILER_DIR",
                 "SGLANG_CACHE_DIT_SECONDARY_DMD_RIDGE", "SGLANG_KERNEL_API_LOGLEVEL"):
        assert name in names, name
    unread = sorted(v.name for v in envs.SPEC if v.name not in release.reads)
    # the issue's six, plus SGLANG_USE_MLX: 0.5.23 names it only in a unit test, never in runtime code
    assert unread == sorted([*(f"SGLANG_DIFFUSION_{n}" for n in ("TARGET_DEVICE", "ATTENTION_BACKEND", "SERVER_DEV_MODE",
                            "CONFIG_ROOT", "LOGGING_LEVEL", "WORKER_MULTIPROC_METHOD")), "SGLANG_USE_MLX"])
    by_name = {v.name: v for v in release.variables}
    assert (by_name["SGLANG_CACHE_DIT_DMD_RIDGE"].type, by_name["SGLANG_CACHE_DIT_DMD_RIDGE"].default) == ("float", "1e-08")
    assert by_name["SGLANG_DIFFUSION_SYNC_STAGE_PROFILING"].type == "one"
    assert "Dynamic Mode Decomposition" in by_name["SGLANG_CACHE_DIT_DMD"].help


def test_discovered_variables_go_to_panes_by_prefix(discovered: list[envs.EnvVar[Any]],
                                                    release: upstream.Release) -> None:
    assert len(discovered) == len(release.names() - {v.name for v in envs.SPEC}) == 83
    pane = {v.name: v.pane for v in discovered}
    assert pane["SGLANG_CACHE_DIT_DMD"] is envs.Pane.CACHING
    assert pane["SGLANG_DIFFUSION_PLATFORM_OVERRIDE"] is envs.Pane.RUNTIME
    caching = envs.by_pane(envs.Pane.CACHING)
    assert caching[: len([v for v in envs.SPEC if v.pane is envs.Pane.CACHING])] == [
        v for v in envs.SPEC if v.pane is envs.Pane.CACHING]  # the spec's first, then the release's
    dmd = REGISTRY["SGLANG_CACHE_DIT_DMD"]
    assert (dmd.origin, dmd.group, dmd.default) == ("sglang 0.5.23", "from sglang 0.5.23", False)
    assert REGISTRY["SGLANG_CACHE_DIT_SECONDARY_DMD_RIDGE"].inherits_from == "SGLANG_CACHE_DIT_DMD_RIDGE"
    assert "sglang 0.5.23" in envs.docs_table()


def test_remove_discovered_restores_the_spec(discovered: list[envs.EnvVar[Any]]) -> None:
    remove_discovered()
    assert list(REGISTRY.values()) == list(envs.SPEC)


_SOURCE = '''
from typing import TYPE_CHECKING
if TYPE_CHECKING:
    # a typed-only knob
    SGLANG_TYPED_ONLY: int = 5
environment_variables = {
    # ====== banner ======
    # First line of help
    # second line
    "SGLANG_A": _lazy_bool("SGLANG_A", "true"),
    "SGLANG_B": _lazy_int("SGLANG_B", 7),
    "SGLANG_C": lambda: os.getenv("SGLANG_C", "1") == "1",
}
environment_variables["SGLANG_D"] = _lazy_path("SGLANG_D")
'''


def test_parse_envs_source_reads_names_types_defaults_and_comments() -> None:
    found = {v.name: v for v in upstream.parse_envs_source(_SOURCE)}
    assert set(found) == {"SGLANG_A", "SGLANG_B", "SGLANG_C", "SGLANG_D", "SGLANG_TYPED_ONLY"}
    assert (found["SGLANG_A"].type, found["SGLANG_A"].default, found["SGLANG_A"].help) == (
        "bool", "true", "First line of help second line")
    assert (found["SGLANG_B"].type, found["SGLANG_B"].default) == ("int", "7")
    assert found["SGLANG_C"].type == "custom"
    assert (found["SGLANG_D"].type, found["SGLANG_TYPED_ONLY"].type) == ("path", "int")
    assert found["SGLANG_TYPED_ONLY"].help == "a typed-only knob"


def test_direct_reads_are_typed_by_how_they_are_used() -> None:
    text = ('import os\nA = os.environ.get("SGLANG_X", "0") == "1"\nB = int(os.getenv("SGLANG_Y", "3"))\n'
            'C = get_bool_env_var("SGLANG_Z")\nD = os.getenv("SGLANG_W")\nE = "SGLANG_MENTIONED"\n')
    found, mentioned = upstream.parse_direct_reads(text, "m.py")
    assert sorted((v.name, v.type) for v in found) == [("SGLANG_W", "str"), ("SGLANG_X", "one"), ("SGLANG_Y", "int"),
                                                       ("SGLANG_Z", "bool")]
    assert "SGLANG_MENTIONED" in mentioned


def test_release_json_round_trips(release: upstream.Release) -> None:
    assert upstream.Release.from_json(release.to_json()) == release
    with pytest.raises(ValueError):
        upstream.Release.from_json('{"schema": 99}')


@settings(max_examples=150, deadline=None)
@given(raw=st.text(max_size=40))
def test_any_string_reads_or_is_refused_with_an_env_error_for_every_variable(raw: str) -> None:
    release = upstream.Release.from_json(DATA.read_text(encoding="utf-8"))
    added = install_discovered(upstream.to_envvars(release))
    try:
        for var in REGISTRY.values():
            try:
                var.read(raw)
            except envs.EnvError as exc:
                assert str(exc).startswith(f"{var.name}=")
        envs.check({"SGLANG_CACHE_DIT_FN": raw}, BASE_ENV, CUDA_HOST, strict=False)
    finally:
        remove_discovered()
    assert added

"""Tests for ``backend/envs/``: the registry against the spec (names, secrets, platforms) and the
generated docs table.  Tables: ``tests/envs_tables.py``.
"""

from __future__ import annotations

import pytest

from backend import envs
from backend.envs import REGISTRY
from tests.envs_invalid_values import INVALID
from tests.envs_tables import (
    DEFAULTS,
    SHARED_SPEC,
    SPEC,
    VALID,
    spec_names,
)


def test_spec_copy_matches_the_shared_spec() -> None:
    """Says when ``tests/data/spec/env-vars.md`` has fallen behind ``../shared/spec/env-vars.md``."""
    if not SHARED_SPEC.is_file():
        pytest.skip(f"no shared spec beside this checkout ({SHARED_SPEC}); the copy in tests/data is used")
    assert SPEC.read_text(encoding="utf-8") == SHARED_SPEC.read_text(encoding="utf-8"), (
        f"the spec changed: copy {SHARED_SPEC} to {SPEC}")


# -- the registry against the spec ---------------------------------------------------------


def test_registry_names_equal_spec_names_exactly() -> None:
    names = spec_names()
    assert len(names) == len(set(names)), "a variable appears twice in the spec"
    assert sorted(REGISTRY) == sorted(names)


def test_tables_here_cover_every_variable() -> None:
    assert set(DEFAULTS) == set(REGISTRY)
    assert set(VALID) == set(REGISTRY)
    assert {name for name, _, _ in INVALID} == set(REGISTRY)
    for name in REGISTRY:
        assert sum(1 for n, _, _ in INVALID if n == name) >= 2, name


def test_secrets_are_exactly_the_two_s3_credentials() -> None:
    assert {n for n, v in REGISTRY.items() if v.secret} == {
        "SGLANG_S3_ACCESS_KEY_ID",
        "SGLANG_S3_SECRET_ACCESS_KEY",
    }


def test_platform_only_variables_name_their_platform() -> None:
    assert REGISTRY["SGLANG_USE_MLX"].platforms == ("mps",)
    assert REGISTRY["SGLANG_USE_ROCM_VAE"].platforms == ("rocm",)
    assert REGISTRY["SGLANG_USE_ROCM_CUDNN_BENCHMARK"].platforms == ("rocm",)


# -- generated outputs -----------------------------------------------------------------------


def test_docs_table_has_one_row_per_variable() -> None:
    lines = envs.docs_table().splitlines()
    assert lines[0] == "| variable | pane | allowed | default | meaning | from |"
    assert [line.split(" | ")[0].lstrip("| ") for line in lines[2:]] == list(REGISTRY)
    caching = envs.docs_table(envs.Pane.CACHING).splitlines()[2:]
    assert len(caching) == len(envs.by_pane(envs.Pane.CACHING)) == 19

"""The variable registry: every environment variable the product manages, declared once.

Why one package: the console's panes, validation, the session file, the docs table and the
backend's typed settings are all generated from these declarations, so adding a variable is one
entry in :mod:`backend.envs.declarations` (see ``shared/spec/env-vars.md``, the contract).

Rooms: :mod:`~backend.envs.kinds` (one parser per kind of value: the contract, with
:mod:`~backend.envs.scalar_kinds` and :mod:`~backend.envs.text_kinds`), :mod:`~backend.envs.masking`
(secrets and URL passwords hidden for display), :mod:`~backend.envs.declarations`
(the variables), :mod:`~backend.envs.settings` (resolution, Settings, masking),
:mod:`~backend.envs.checks` (cross-variable rules), :mod:`~backend.envs.upstream` (the variables of
an installed sglang release, read from its source without importing it).

``envs.CACHE_DIT_FN`` and the like are looked up by short name (the variable name without
``SGLANG_`` / ``SGLANG_DIFFUSION_``) in the declarations, so nothing here re-spells a name.

Importing this package reads nothing, writes no ``os.environ`` and creates no directory;
it imports neither torch nor textual.
"""

from __future__ import annotations

from typing import Any

from backend.envs.checks import Problem, check, docs_table, unknown_names
from backend.envs.declarations import (
    ATTENTION_BACKENDS,
    DEVICES,
    FAMILIES,
    FP4_BACKENDS,
    KERNEL_API_LEVELS,
    LOG_LEVELS,
    MANAGED_PREFIXES,
    REGISTRY,
    SCM_PRESETS,
    SHORT_NAMES,
    SPEC,
    CacheDit,
    CacheDitSecondary,
    EnvVar,
    Family,
    KernelApi,
    Pane,
    Platform,
    Runtime,
    Storage,
    by_pane,
)
from backend.envs.kinds import EnvError, Kind, Reading
from backend.envs.masking import mask_secret, mask_url_userinfo
from backend.envs.scalar_kinds import BoolKind, EnumKind, FloatKind, IntKind, LevelKind, OneKind
from backend.envs.settings import (
    STRICT_VAR,
    Resolved,
    Settings,
    Source,
    cache_root,
    load_settings,
    resolve,
    strict_mode,
    to_json_safe,
)
from backend.envs.text_kinds import (
    BucketKind,
    IntListKind,
    LogDestKind,
    PathKind,
    PatternsKind,
    RegionKind,
    SecretKind,
    TextKind,
    UrlKind,
)
from backend.platforms import PLATFORM_NAMES


def __getattr__(short: str) -> EnvVar[Any]:
    """``envs.CACHE_DIT_FN``: the spec declaration whose name is ``SGLANG_[DIFFUSION_]CACHE_DIT_FN``."""
    try:
        return SHORT_NAMES[short]
    except KeyError:
        raise AttributeError(f"module 'backend.envs' has no attribute {short!r}") from None


__all__ = [
    "ATTENTION_BACKENDS", "DEVICES", "FAMILIES", "FP4_BACKENDS", "KERNEL_API_LEVELS", "LOG_LEVELS",
    "MANAGED_PREFIXES", "PLATFORM_NAMES", "REGISTRY", "SCM_PRESETS", "SPEC", "STRICT_VAR",
    "BoolKind", "BucketKind", "CacheDit", "CacheDitSecondary", "EnumKind", "EnvError", "EnvVar", "Family",
    "FloatKind", "IntKind", "IntListKind", "KernelApi", "Kind", "LevelKind", "LogDestKind", "OneKind", "Pane",
    "PathKind", "PatternsKind", "Platform", "Problem", "Reading", "RegionKind", "Resolved", "Runtime",
    "SecretKind", "Settings", "Source", "Storage", "TextKind", "UrlKind", "by_pane", "cache_root", "check", "docs_table",
    "load_settings", "mask_secret", "mask_url_userinfo", "resolve", "strict_mode", "to_json_safe", "unknown_names",
]

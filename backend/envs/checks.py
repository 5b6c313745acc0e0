"""Checks: per-value errors and notes plus the spec's cross-variable rules.

Why separate from resolution: the backend needs only typed settings; the console also needs
everything that is wrong or surprising about a configuration, errors first.
"""

from __future__ import annotations

import difflib
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from backend.envs.declarations import (
    MANAGED_PREFIXES,
    REGISTRY,
    SCM_PRESETS,
    CacheDit,
    CacheDitSecondary,
    EnvVar,
    KernelApi,
    Pane,
    Runtime,
    Storage,
)
from backend.envs.settings import Resolved, resolve, strict_mode
from backend.platforms import detect_host_platforms

T = TypeVar("T")


@dataclass(frozen=True)
class Problem:
    severity: str
    """``error`` blocks a launch; ``warning`` does not."""
    names: tuple[str, ...]
    message: str

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def line(self) -> str:
        return f"{self.severity}: {self.message}"


def _error(message: str, *names: str) -> Problem:
    return Problem("error", names, message)


def _warning(message: str, *names: str) -> Problem:
    return Problem("warning", names, message)


def unknown_names(names: Iterable[str]) -> list[Problem]:
    """Warn about names under a managed prefix that the registry does not know (likely typos)."""
    problems = []
    for name in names:
        if name in REGISTRY or not name.startswith(MANAGED_PREFIXES):
            continue
        near = difflib.get_close_matches(name, list(REGISTRY), n=1, cutoff=0.8)
        hint = f"; did you mean {near[0]}?" if near else ""
        problems.append(_warning(f"{name} is not a variable this console manages{hint}", name))
    return problems


def _attention_config_problem(path: str, backend: str | None) -> Problem | None:
    name = Runtime.ATTENTION_CONFIG.name
    if not os.path.isfile(path):
        return _error(f"{name}={path!r}: file does not exist", name)
    try:
        from backend.attention_config import AttentionConfigError, load_attention_config
    except ImportError:  # pragma: no cover - the module ships with the package
        return None
    try:
        load_attention_config(path, backend)
    except AttentionConfigError as exc:
        return _error(f"{name}={path!r}: {exc}", name)
    return None


def _free_space_text(path: str) -> str:
    probe = os.path.abspath(path)
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return "free space unknown"
    return f"{free / 2**30:.1f} GiB free"


def _value_problems(
    session: Mapping[str, str], env: Mapping[str, str], resolved: Mapping[str, Resolved], strict: bool
) -> list[Problem]:
    problems: list[Problem] = []
    if strict:
        for layer in (session, env):
            for name, raw in layer.items():
                if name in REGISTRY and raw == "":
                    problems.append(_warning(f"{name} is set but empty; treated as unset", name))
    for r in resolved.values():
        if r.error:
            problems.append(_error(r.error, r.var.name))
        elif r.note:
            problems.append(_warning(r.note, r.var.name))
    return problems


def _scm_preset_problem(resolved: Mapping[str, Resolved]) -> Problem | None:
    """cache-dit compares preset names exactly and raises ValueError on any other at the first request."""
    preset = resolved[CacheDit.SCM_PRESET.name]
    if preset.raw is None or preset.error or preset.value in SCM_PRESETS:
        return None
    bins = all(resolved[v.name].raw for v in (CacheDit.SCM_COMPUTE_BINS, CacheDit.SCM_CACHE_BINS))
    if resolved[CacheDit.ENABLED.name].value and not bins:
        return _error(f"{CacheDit.SCM_PRESET.name}={preset.raw!r}: cache-dit accepts only "
                      f"{', '.join(SCM_PRESETS[1:])} (exact case) and raises ValueError at the first request",
                      CacheDit.SCM_PRESET.name)
    return None


MAX_ENV_ENTRY_BYTES = 131072
"""Linux's MAX_ARG_STRLEN: one ``NAME=value`` longer than this and ``exec`` of the child fails (E2BIG)."""


def _size_problems(session: Mapping[str, str]) -> list[Problem]:
    """Values the kernel would refuse to hand to the child: caught here, not as "Argument list too long"."""
    problems = []
    for name, raw in session.items():
        size = len(f"{name}={raw}".encode())
        if size >= MAX_ENV_ENTRY_BYTES:
            problems.append(_error(
                f"{name} is {size} bytes long: a child process cannot be started with an environment entry "
                f"of {MAX_ENV_ENTRY_BYTES} bytes or more (Linux MAX_ARG_STRLEN); shorten the value", name))
    return problems


def check(
    session: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    host_platforms: frozenset[str] | None = None,
    strict: bool | None = None,
) -> list[Problem]:
    """Every problem of the effective configuration, errors first.

    Args:
        session: the session's raw values.
        environ: the process environment (``os.environ`` when None).
        host_platforms: platforms present on this host (detected when None).
        strict: strict parsing; None reads ``SGL_CONSOLE_STRICT`` from ``environ``.
    """
    env = dict(os.environ if environ is None else environ)
    is_strict = strict_mode(env, strict)
    resolved = resolve(session, env, is_strict)
    host = detect_host_platforms() if host_platforms is None else host_platforms
    problems = _value_problems(session or {}, env, resolved, is_strict)
    problems += unknown_names(set(session or {}))
    problems += _size_problems(session or {})

    def val(var: EnvVar[T]) -> T:
        return resolved[var.name].value

    def given(var: EnvVar[Any]) -> bool:
        return resolved[var.name].raw is not None and not resolved[var.name].error

    if val(Storage.CLOUD_STORAGE_TYPE) == "s3" and not (given(Storage.S3_BUCKET_NAME) and val(Storage.S3_BUCKET_NAME)):
        problems.append(_error(
            f"{Storage.CLOUD_STORAGE_TYPE.name}=s3 needs {Storage.S3_BUCKET_NAME.name} (storage on without a bucket)",
            Storage.CLOUD_STORAGE_TYPE.name, Storage.S3_BUCKET_NAME.name))
    compute, cache = CacheDit.SCM_COMPUTE_BINS, CacheDit.SCM_CACHE_BINS
    if given(compute) != given(cache):
        lone = compute if given(compute) else cache
        problems.append(_warning(
            f"{lone.name} is set alone: SCM custom bins need both COMPUTE_BINS and CACHE_BINS; "
            f"falling back to preset {val(CacheDit.SCM_PRESET)!r}", compute.name, cache.name))
    scm = _scm_preset_problem(resolved)
    if scm:
        problems.append(scm)
    for order, switch in ((CacheDit.TS_ORDER, CacheDit.TAYLORSEER),
                          (CacheDitSecondary.TS_ORDER, CacheDitSecondary.TAYLORSEER)):
        if given(order) and not val(switch):
            problems.append(_warning(f"{order.name} has no effect while {switch.name} is off", order.name))
    for var in REGISTRY.values():
        if var.platforms and given(var) and val(var) and not host.intersection(var.platforms):
            where = "/".join(var.platforms)
            problems.append(_warning(f"{var.name} has no effect here: this host has no {where}", var.name))
    device = val(Runtime.TARGET_DEVICE)
    if given(Runtime.TARGET_DEVICE) and device not in host:
        problems.append(_warning(
            f"{Runtime.TARGET_DEVICE.name}={device} but this host has no {device}; the backend will refuse to start",
            Runtime.TARGET_DEVICE.name))
    if given(Runtime.ATTENTION_CONFIG) and val(Runtime.ATTENTION_CONFIG):
        found = _attention_config_problem(val(Runtime.ATTENTION_CONFIG), val(Runtime.ATTENTION_BACKEND))
        if found:
            problems.append(found)
    level = KernelApi.LOGLEVEL
    if val(level) >= 10 and not given(KernelApi.DUMP_INCLUDE):
        dump = str(val(KernelApi.DUMP_DIR)).replace("%i", "0")
        problems.append(_warning(
            f"{level.name}={val(level)} with no {KernelApi.DUMP_INCLUDE.name} dumps every call's "
            f"tensors to {val(KernelApi.DUMP_DIR)} ({_free_space_text(dump)})", level.name))
    return sorted(problems, key=lambda p: 0 if p.is_error else 1)


def docs_table(pane: Pane | None = None) -> str:
    """A Markdown table of the registry (for ``--help`` and the README), generated, never hand-kept."""
    rows = ["| variable | pane | allowed | default | meaning | from |", "|---|---|---|---|---|---|"]
    for var in REGISTRY.values():
        if pane is None or var.pane == pane:
            where = var.pane.value if var.pane else ""
            rows.append(f"| {var.name} | {where} | {var.kind.allowed()} | "
                        f"{var.describe_default()} | {var.doc} | {var.origin} |")
    return "\n".join(rows)

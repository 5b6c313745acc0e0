"""Attention backend config: parse (JSON / YAML / flag forms) and validate per backend.

Why here, torch-free: the backend applies it and the console hot-reloads and validates
it on every save; both must agree on exactly one schema.  Parse and schema errors carry
the line they point at, so the console can show "line 3: ...".
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml


class AttentionConfigError(ValueError):
    """A config that cannot be used; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None, path: str | None = None) -> None:
        self.line = line
        self.path = path
        self.detail = message
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{message}")


@dataclass(frozen=True)
class Key:
    """One allowed key: a checker returning an error text or None, and a description."""

    check: Callable[[Any], str | None]
    describe: str


def _is_int(v: Any, low: int = 0) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        return f"must be an integer >= {low}"
    return None


def _is_fraction(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= float(v) < 1.0:
        return "must be a number in [0, 1)"
    return None


def _is_positive(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or float(v) <= 0:
        return "must be a number > 0"
    return None


def _is_path(v: Any) -> str | None:
    return None if isinstance(v, str) and v else "must be a non-empty path string"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else "must be one of " + ", ".join(choices)


SDPA_KERNELS = ("flash", "efficient", "math", "cudnn")


def _kernel_list(allowed: tuple[str, ...]) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        items = [v] if isinstance(v, str) else v
        if not isinstance(items, list) or not items or any(i not in allowed for i in items):
            return "must be a list drawn from " + ", ".join(allowed)
        return None

    return check


_SDPA = {
    "sdpa_kernels": Key(_kernel_list(SDPA_KERNELS), "SDPA kernels to allow, in order: " + ", ".join(SDPA_KERNELS)),
    "scale": Key(_is_positive, "softmax scale override (> 0)"),
}
_FA = {"sdpa_kernels": Key(_kernel_list(("flash", "cudnn")), "flash and/or cudnn")}
_STA = {"mask_strategy_file_path": Key(_is_path, "STA mask-strategy JSON file")}
_VSA = {"sparsity": Key(_is_fraction, "fraction of blocks skipped, in [0, 1)")}
_VMOBA = {
    **{k: Key(lambda v: _is_int(v, 1), "positive integer") for k in (
        "temporal_chunk_size", "temporal_topk", "spatial_chunk_size", "spatial_topk", "st_chunk_size", "st_topk")},
    "moba_select_mode": Key(_one_of("threshold", "topk"), "threshold or topk"),
    "moba_threshold": Key(_is_positive, "number > 0"),
    "moba_threshold_type": Key(_one_of("query_head", "head_global", "overall"), "query_head, head_global, overall"),
    "first_full_step": Key(lambda v: _is_int(v, 0), "integer >= 0"),
    "first_full_layer": Key(lambda v: _is_int(v, 0), "integer >= 0"),
}
_SAGE = {"quantization": Key(_one_of("int8", "fp8"), "int8 or fp8"), **_SDPA}

SCHEMAS: dict[str, dict[str, Key]] = {
    "torch_sdpa": _SDPA, "fa": _FA, "sliding_tile_attn": _STA, "video_sparse_attn": _VSA,
    "vmoba_attn": _VMOBA, "sage_attn": _SAGE, "sage_attn_3": _SAGE,
}
"""Allowed keys per attention backend; backends not listed accept the torch_sdpa keys (our fallback)."""


def schema_for(backend: str | None) -> tuple[str, dict[str, Key]]:
    """The schema name and keys that apply to ``backend`` (None means auto, i.e. torch_sdpa)."""
    name = backend or "torch_sdpa"
    return (name, SCHEMAS[name]) if name in SCHEMAS else ("torch_sdpa", _SDPA)


def _key_line(text: str, key: str) -> int | None:
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*:", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def parse_config_text(text: str, fmt: str) -> dict[str, Any]:
    """Parse ``text`` as ``json`` or ``yaml`` into a mapping; errors carry their line."""
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise AttentionConfigError(f"invalid JSON: {exc.msg}", exc.lineno) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise AttentionConfigError(f"invalid YAML: {problem}", mark.line + 1 if mark else None) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise AttentionConfigError(f"top level must be a mapping of keys to values, not {type(data).__name__}", 1)
    return data


def validate(data: Mapping[str, Any], backend: str | None, text: str = "") -> dict[str, Any]:
    """Check every key and value against the backend's schema; returns a plain dict copy."""
    name, keys = schema_for(backend)
    for key, value in data.items():
        if key not in keys:
            allowed = ", ".join(sorted(keys)) or "no keys"
            raise AttentionConfigError(
                f"unknown key {key!r} for attention backend {name}; allowed: {allowed}", _key_line(text, str(key)))
        problem = keys[key].check(value)
        if problem:
            raise AttentionConfigError(f"{key}={value!r} {problem}", _key_line(text, str(key)))
    return dict(data)


def load_attention_config(path: str, backend: str | None) -> dict[str, Any]:
    """Read, parse and validate the config file at ``path``.

    Raises:
        AttentionConfigError: unreadable file, parse error or schema error, with its line.
    """
    check_config_name(path)
    try:
        with open(os.path.expanduser(path), "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise AttentionConfigError(f"cannot read {path}: {exc.__class__.__name__}: {exc}", path=path) from None
    return parse_attention_config(data, path, backend)


def check_config_name(path: str) -> None:
    """The file name decides the format: refuse anything but .json, .yaml and .yml."""
    if not path.lower().endswith((".json", ".yaml", ".yml")):
        raise AttentionConfigError("the file must end in .json, .yaml or .yml", path=path)


def parse_attention_config(data: bytes, path: str, backend: str | None) -> dict[str, Any]:
    """Parse and validate a config file's bytes, already read (a watcher hashes and parses the same
    bytes, so what it applies is exactly what it saw); the format comes from ``path``'s suffix.

    Raises:
        AttentionConfigError: not UTF-8, parse error or schema error, with its line.
    """
    check_config_name(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AttentionConfigError(f"cannot read {path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                                   path=path) from None
    try:
        return validate(parse_config_text(text, "json" if path.lower().endswith(".json") else "yaml"), backend, text)
    except AttentionConfigError as exc:
        exc.path = path
        raise


def _scalar(text: str) -> Any:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if re.fullmatch(r"\d+", text):
        return int(text)
    if re.fullmatch(r"\d*\.\d+|\d+\.\d*", text):
        return float(text)
    return text


def parse_config_arg(value: str, backend: str | None) -> dict[str, Any]:
    """Parse ``--attention-backend-config`` as SGLang does: a file, a JSON string, or ``k=v,k=v``.

    A value that names a file (a .json/.yaml/.yml name, or a path with no ``=``) is read as one, so a
    missing file says "No such file" as the variable does, not "could not parse".
    """
    stripped = value.strip()
    looks_like_file = value.lower().endswith((".json", ".yaml", ".yml")) or (
        "=" not in stripped and (os.sep in stripped or stripped.startswith("~")))
    if looks_like_file and not stripped.startswith("{"):
        return load_attention_config(value, backend)
    if stripped.startswith("{"):
        return validate(parse_config_text(stripped, "json"), backend, stripped)
    pairs: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in stripped.split(","))):
        if "=" not in part:
            raise AttentionConfigError(
                f"could not parse attention backend config {value!r}: expected a .json/.yaml file, "
                "a JSON object or k=v,k=v pairs")
        key, _, raw = part.partition("=")
        pairs[key.strip()] = _scalar(raw.strip())
    return validate(pairs, backend)


def diff_configs(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Human lines describing what changed: ``+ key=value``, ``- key=value``, ``~ key: a -> b``."""
    lines = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            lines.append(f"+ {key}={new[key]!r}")
        elif key not in new:
            lines.append(f"- {key}={old[key]!r}")
        elif old[key] != new[key]:
            lines.append(f"~ {key}: {old[key]!r} -> {new[key]!r}")
    return lines

"""What differs between two sessions (or a session and the registry defaults), for ``env diff``
and the diff screen.

Why its own module: comparing reads values the way the runtime does (``1`` equals ``true``) and
masks secrets; neither is part of keeping or editing a session.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backend import envs
from backend.envs import REGISTRY, EnvError


@dataclass(frozen=True)
class DiffRow:
    """One variable whose values differ between two sessions (or a session and the defaults).

    ``left``/``right`` are display strings: secrets masked, and a side that does not set the
    variable shows what applies instead (``default: 0.24``, ``inherits SGLANG_CACHE_DIT_FN``).
    """

    name: str
    left: str
    right: str
    left_set: bool
    """True when the left side sets the variable explicitly."""
    right_set: bool
    secret: bool = False
    """True for secrets: both sides are masked, so the row only says that they differ."""


def diff_rows(left_values: Mapping[str, str], left_unknown: Mapping[str, str],
              right_values: Mapping[str, str], right_unknown: Mapping[str, str]) -> list[DiffRow]:
    """Variables whose values differ, in registry order, then unknown names sorted.

    Returns:
        One :class:`DiffRow` per variable that differs (secrets masked).  Two values that parse
        to the same thing (``1`` and ``true``) do not differ.
    """
    rows = []
    for var in REGISTRY.values():
        left, right = left_values.get(var.name), right_values.get(var.name)
        if left is None and right is None:
            continue
        if _same(var, left, right):
            continue
        rows.append(DiffRow(var.name, _side(var, left), _side(var, right),
                            left is not None, right is not None, var.secret))
    for name in sorted(set(left_unknown) | set(right_unknown)):
        left, right = left_unknown.get(name), right_unknown.get(name)
        if left != right:
            rows.append(DiffRow(name, "unset" if left is None else left,
                                "unset" if right is None else right, left is not None, right is not None))
    return rows


def _same(var: envs.EnvVar[Any], left: str | None, right: str | None) -> bool:
    if left == right:
        return True
    if left is None or right is None:
        return False
    try:
        return bool(var.read(left).value == var.read(right).value)  # equal as the runtime reads them
    except EnvError:
        return False


def _side(var: envs.EnvVar[Any], raw: str | None) -> str:
    if raw is None:
        text = var.describe_default()  # a default is never a secret value
        return text if text.startswith("inherits") or text == "unset" else f"default: {text}"
    return var.display(raw)

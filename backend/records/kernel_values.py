"""Kernel API values: the plain descriptions of tensors and other arguments (:class:`TensorDesc`,
:class:`ArgDesc`), rendered exactly as SGLang's ``_serialize_value`` does and parsed back.

Why its own module: one value's text form (and its inverse, which never raises) is apart from the
call blocks around it (:mod:`backend.records.kernel_records`). :mod:`backend.records`, the contract
module, re-exports every public name here; callers import from there. Standard library only.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class TensorStats:
    """Level-5 statistics of a tensor, or one of SGLang's special forms in ``note``.

    ``note`` is e.g. ``"empty tensor"``, ``"skipped: graph capture in progress"`` or
    ``"unavailable: RuntimeError"``; the numbers are then ``None``.
    """

    min: float | None = None
    max: float | None = None
    mean: float | None = None
    nan_count: int = 0
    inf_count: int = 0
    note: str | None = None


@dataclass(frozen=True)
class TensorDesc:
    """A tensor as the kernel API log shows it; built from plain values so this module needs no torch."""

    shape: tuple[int, ...]
    dtype: str
    """As ``str(tensor.dtype)``, e.g. ``"torch.float16"``."""
    device: str
    """As ``str(tensor.device)``, e.g. ``"cuda:0"``."""
    requires_grad: bool = False
    is_contiguous: bool = True
    stats: TensorStats | None = None


@dataclass(frozen=True)
class ArgDesc:
    """Any non-tensor value as the kernel API log shows it.

    ``kind`` is one of ``repr`` (scalars and strings: ``text`` is the ``repr``), ``list`` / ``tuple`` /
    ``dict`` (``items`` holds ``(label, value)``: the index, or the key's ``repr``; ``more`` counts the
    items beyond the 4 (8 for dicts) shown), ``object`` (``text`` is the type name, ``attrs`` its
    ``shape``/``dtype``/``device`` or ``repr`` lines), ``elided`` (nesting cut: ``Type(...)``) or
    ``raw`` (lines the parser could not read, kept as ``text``).
    """

    kind: str
    text: str = ""
    items: tuple[tuple[str, ValueDesc], ...] = ()
    more: int = 0
    attrs: tuple[tuple[str, str], ...] = ()


ValueDesc = TensorDesc | ArgDesc


def _fmt_stat(value: float | None) -> str:
    return "nan" if value is None else f"{value:.6f}"


def render_value(value: ValueDesc) -> list[str]:
    """Render one value as SGLang's ``_serialize_value`` does: the first line plus relative lines."""
    if isinstance(value, TensorDesc):
        lines = [
            "Tensor(",
            f"  shape={tuple(value.shape)}",
            f"  dtype={value.dtype}",
            f"  device={value.device}",
            f"  requires_grad={value.requires_grad}",
            f"  is_contiguous={value.is_contiguous}",
        ]
        st = value.stats
        if st is not None:
            if st.note is not None:
                lines.append(f"  statistics=[{st.note}]")
            else:
                lines += [
                    f"  min={_fmt_stat(st.min)}",
                    f"  max={_fmt_stat(st.max)}",
                    f"  mean={_fmt_stat(st.mean)}",
                    f"  nan_count={st.nan_count}",
                    f"  inf_count={st.inf_count}",
                ]
        return [*lines, ")"]
    kind = value.kind
    if kind in ("list", "tuple", "dict"):
        opener, closer = {"list": ("[", "]"), "tuple": ("(", ")"), "dict": ("{", "}")}[kind]
        lines = [opener]
        for label, item in value.items:
            item_lines = render_value(item)
            lines.append(f"  [{label}] {item_lines[0]}" if kind != "dict" else f"  {label}: {item_lines[0]}")
            lines += [f"      {extra}" for extra in item_lines[1:]]
        if value.more:
            lines.append(f"  ... ({value.more} more items)")
        return [*lines, closer]
    if kind == "object":
        return [f"{value.text}(", *(f"  {k}={v}" for k, v in value.attrs), ")"]
    if kind == "elided":
        return [f"{value.text}(...)"]
    return value.text.split("\n") if value.text else [""]


ENTRY_RE = re.compile(r"^  (arg\[\d+\]|[A-Za-z_][\w.]*)=(.*)$")
"""One ``  name=value`` line of a section or of a tensor/object description."""
_SEQ_ITEM_RE = re.compile(r"^  \[(\d+)\] (.*)$")
_MORE_RE = re.compile(r"^  \.\.\. \((\d+) more items\)$")
_ELIDED_RE = re.compile(r"^([\w.]+)\(\.\.\.\)$")
_OBJECT_RE = re.compile(r"^([\w.]+)\($")


def _parse_tensor(lines: list[str]) -> TensorDesc:
    attrs: dict[str, str] = {}
    for line in lines[1:]:
        m = ENTRY_RE.match(line)
        if m:
            attrs[m.group(1)] = m.group(2)
    stats: TensorStats | None = None
    if "statistics" in attrs:
        stats = TensorStats(note=attrs["statistics"].strip("[]"))
    elif any(k in attrs for k in ("min", "max", "mean", "nan_count", "inf_count")):
        stats = TensorStats(
            min=float(attrs["min"]) if "min" in attrs else None,
            max=float(attrs["max"]) if "max" in attrs else None,
            mean=float(attrs["mean"]) if "mean" in attrs else None,
            nan_count=int(attrs.get("nan_count", 0)),
            inf_count=int(attrs.get("inf_count", 0)),
        )
    return TensorDesc(
        shape=tuple(int(x) for x in _SHAPE_DIM_RE.findall(attrs.get("shape", ""))),
        dtype=attrs.get("dtype", "?"),
        device=attrs.get("device", "?"),
        requires_grad=attrs.get("requires_grad") == "True",
        is_contiguous=attrs.get("is_contiguous", "True") == "True",
        stats=stats,
    )


_SHAPE_DIM_RE = re.compile(r"-?\d+")
"""Dimensions of a rendered shape such as ``(2, 64, 128)``; a regex, not ``literal_eval``, for speed."""


def _split_dict_item(body: str) -> tuple[str, str]:
    start = 0
    candidates = []
    while (pos := body.find(": ", start)) >= 0:
        candidates.append(pos)
        start = pos + 1
    for pos in candidates:
        try:
            ast.literal_eval(body[:pos])
        except (ValueError, SyntaxError):
            continue
        return body[:pos], body[pos + 2 :]
    pos = candidates[0] if candidates else len(body)
    return body[:pos], body[pos + 2 :]


def _parse_container(lines: list[str], kind: str) -> ArgDesc:
    items: list[tuple[str, list[str]]] = []
    more = 0
    for line in lines[1:-1] if lines[-1] in (")", "]", "}") else lines[1:]:
        if line.startswith("      ") and items:
            items[-1][1].append(line[6:])
        elif m := _MORE_RE.match(line):
            more = int(m.group(1))
        elif kind != "dict" and (m := _SEQ_ITEM_RE.match(line)):
            items.append((m.group(1), [m.group(2)]))
        elif kind == "dict" and line.startswith("  "):
            label, first = _split_dict_item(line[2:])
            items.append((label, [first]))
    return ArgDesc(kind, items=tuple((label, parse_value(v)) for label, v in items), more=more)


def parse_value(lines: Sequence[str]) -> ValueDesc:
    """Inverse of :func:`render_value`; never raises (unreadable input becomes ``ArgDesc("raw")``)."""
    lines = list(lines)
    if not lines:
        return ArgDesc("raw")
    first = lines[0]
    try:
        if first == "Tensor(":
            return _parse_tensor(lines)
        if first in ("[", "(", "{") and len(lines) > 1:
            return _parse_container(lines, {"[": "list", "(": "tuple", "{": "dict"}[first])
        if m := _ELIDED_RE.match(first):
            return ArgDesc("elided", m.group(1))
        if (m := _OBJECT_RE.match(first)) and len(lines) > 1:
            attrs = []
            for line in lines[1:]:
                em = ENTRY_RE.match(line)
                if em:
                    attrs.append((em.group(1), em.group(2)))
            return ArgDesc("object", m.group(1), attrs=tuple(attrs))
        if len(lines) == 1:
            return ArgDesc("repr", first)
    except (ValueError, SyntaxError, TypeError, KeyError):
        pass
    return ArgDesc("raw", "\n".join(lines))


def walk_tensors(value: ValueDesc) -> Iterable[TensorDesc]:
    """Every tensor in ``value``, containers walked depth first."""
    if isinstance(value, TensorDesc):
        yield value
    else:
        for _, item in value.items:
            yield from walk_tensors(item)

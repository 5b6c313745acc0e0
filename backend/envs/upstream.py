"""The variables of an installed sglang release, read from its source with ``ast`` (never imported).

Why: the spec is one snapshot; the runtime the child will run may declare more variables (sglang
0.5.23 declares 88 in ``multimodal_gen/envs.py``) and no longer read some of the spec's.  Reading
the source (names, declared types, defaults, the comment above each entry as help, and the names
read directly with ``os.getenv``/``os.environ.get``) needs neither torch nor the package importable.

Torch-free and textual-free; pure functions of source text, so the tests run on extracted JSON.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backend.envs.declarations import EnvVar, Pane
from backend.envs.kinds import EnvError, Kind

ENVS_FILE = "multimodal_gen/envs.py"
KERNEL_LOGGING_FILE = "kernels/kernel_api_logging.py"
SKIPPED_DIRS = ("test", "tests", "benchmarks", ".agents", "docs", "examples")
"""Directories whose direct reads are test hooks, not runtime knobs."""
SCHEMA = 1


@dataclass(frozen=True)
class UpstreamVar:
    """One variable as the release declares or reads it."""

    name: str
    type: str
    """bool, int, float, str, path, level, patterns, one (exact "1"), custom."""
    default: str | None
    help: str
    where: str
    """``multimodal_gen/envs.py`` or the file (and line) that reads it directly."""


@dataclass(frozen=True)
class Release:
    """What one sglang release reads from the environment."""

    version: str
    variables: tuple[UpstreamVar, ...]
    reads: frozenset[str] = field(default_factory=frozenset)
    """Every ``SGLANG_*`` name the release's runtime code mentions (declared or read anywhere)."""

    def names(self) -> set[str]:
        return {v.name for v in self.variables}

    def to_json(self) -> str:
        data = {"schema": SCHEMA, "version": self.version, "reads": sorted(self.reads),
                "variables": [asdict(v) for v in self.variables]}
        return json.dumps(data, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Release:
        """Raises ValueError on a file of another schema or shape."""
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise ValueError("not an extraction of this schema")
        variables = tuple(UpstreamVar(**v) for v in data["variables"])
        return cls(str(data["version"]), variables, frozenset(data.get("reads", ())))


_HELPER_TYPES = {"_lazy_bool": "bool", "_lazy_int": "int", "_lazy_float": "float", "_lazy_optional_float": "float",
                 "_lazy_str": "str", "_lazy_path": "path"}
_ANNOTATION_TYPES = {"bool": "bool", "int": "int", "float": "float", "str": "str"}


def _comment_above(lines: list[str], lineno: int) -> str:
    """The ``#`` lines directly above line ``lineno`` (1-based), joined, without section banners."""
    out: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        text = lines[index].strip().lstrip("#").strip()
        if text and not text.startswith("=") and not text.endswith("="):
            out.append(text)
        index -= 1
    return " ".join(reversed(out))


def _literal(node: ast.AST | None) -> str | None:
    if node is None:
        return None
    try:
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return ast.unparse(node)
    return None if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _annotation_type(node: ast.AST) -> str:
    text = ast.unparse(node).replace(" ", "")
    for part in text.split("|"):
        if part in _ANNOTATION_TYPES:
            return _ANNOTATION_TYPES[part]
    return "custom"


def parse_envs_source(text: str) -> list[UpstreamVar]:
    """Variables of a release's ``multimodal_gen/envs.py``: the getter table, then typed-only names."""
    tree = ast.parse(text)
    lines = text.splitlines()
    annotated: dict[str, tuple[str, str | None, str]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    annotated[item.target.id] = (_annotation_type(item.annotation), _literal(item.value),
                                                 _comment_above(lines, item.lineno))
    found: dict[str, UpstreamVar] = {}

    def add(name: str, getter: ast.AST, lineno: int) -> None:
        kind, default = "custom", None
        if isinstance(getter, ast.Call) and isinstance(getter.func, ast.Name) and getter.func.id in _HELPER_TYPES:
            kind = _HELPER_TYPES[getter.func.id]
            default = _literal(getter.args[1]) if len(getter.args) > 1 else None
            if kind == "bool" and default is None:
                default = "false"
        typed = annotated.get(name)
        if typed and kind == "custom":
            default = typed[1]  # a lambda with its own rules: the declared type and default only
        help_text = _comment_above(lines, lineno) or (typed[2] if typed else "")
        found[name] = UpstreamVar(name, kind, default, help_text, ENVS_FILE)

    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Dict):
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            if any(isinstance(t, ast.Name) and t.id == "environment_variables" for t in targets):
                for key, value in zip(node.value.keys, node.value.values, strict=True):
                    if isinstance(key, ast.Constant) and isinstance(key.value, str):
                        add(key.value, value, key.lineno)
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            sub = node.targets[0]
            if ast.unparse(sub.value) == "environment_variables" and isinstance(sub.slice, ast.Constant):
                add(str(sub.slice.value), node.value, node.lineno)
    for name, (kind, default, help_text) in annotated.items():
        if name not in found:  # declared by a generated getter (the secondary cache-dit twins)
            primary = name.replace("_SECONDARY_", "_")
            if not help_text and primary in found:
                help_text = f"Second transformer: as {primary} ({found[primary].help})"
            found[name] = UpstreamVar(name, kind, default, help_text, ENVS_FILE)
    return list(found.values())


_KERNEL_TYPES = {"int": "level", "_str_with_pid": "path", "_parse_pattern": "patterns"}


def parse_kernel_logging_source(text: str) -> list[UpstreamVar]:
    """``_get_env("NAME", type, default)`` calls of the kernel API logging module."""
    out = []
    for node in ast.walk(ast.parse(text)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_get_env"
                and len(node.args) == 3 and isinstance(node.args[0], ast.Constant)):
            kind = _KERNEL_TYPES.get(ast.unparse(node.args[1]), "custom")
            out.append(UpstreamVar(str(node.args[0].value), kind, _literal(node.args[2]),
                                   "kernel API logging", KERNEL_LOGGING_FILE))
    return out


_READERS = {"os.getenv", "os.environ.get", "get_bool_env_var", "_get_env"}


def _direct_kind(call: ast.Call, parents: dict[ast.AST, ast.AST]) -> str:
    if ast.unparse(call.func) == "get_bool_env_var":
        return "bool"
    parent = parents.get(call)
    if isinstance(parent, ast.Compare) and any(_literal(c) == "1" for c in parent.comparators):
        return "one"
    if isinstance(parent, ast.Call) and isinstance(parent.func, ast.Name) and parent.func.id in ("int", "float"):
        return parent.func.id
    return "str"


def parse_direct_reads(text: str, where: str) -> tuple[list[UpstreamVar], set[str]]:
    """Names a module reads with ``os.getenv``/``os.environ.get``/``get_bool_env_var``, and every
    ``SGLANG_*`` string it mentions."""
    tree = ast.parse(text)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found, mentioned = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("SGLANG_"):
            if node.value.replace("_", "").isalnum() and node.value.isupper():
                mentioned.add(node.value)
        if (isinstance(node, ast.Call) and ast.unparse(node.func) in _READERS and node.args
                and isinstance(node.args[0], ast.Constant) and str(node.args[0].value).startswith("SGLANG_")):
            default = _literal(node.args[1]) if len(node.args) > 1 else None
            found.append(UpstreamVar(str(node.args[0].value), _direct_kind(node, parents), default,
                                     f"read directly by {where}:{node.lineno}", f"{where}:{node.lineno}"))
    return found, mentioned


def version_of(package_dir: Path) -> str:
    """The release: the ``Version:`` of the wheel's dist-info beside the package, else
    ``__version__`` of ``sglang/_version.py`` read with ast; ``unknown`` when neither says."""
    for meta in sorted(package_dir.parent.glob(f"{package_dir.name}-*.dist-info/METADATA")):
        for line in meta.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("Version:"):
                return line.split(":", 1)[1].strip()
    try:
        tree = ast.parse((package_dir / "_version.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return "unknown"
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in ("__version__", "version") for t in node.targets
        ):
            return str(_literal(node.value))
    return "unknown"


_MENTION_RE = re.compile(rb"""["'](SGLANG_[A-Z0-9_]+)["']""")
_READER_RE = re.compile(rb"getenv\(|environ\.get\(|get_bool_env_var\(|_get_env\(")


def _runtime_files(root: Path) -> Iterable[Path]:
    for path in sorted(root.rglob("*.py")):
        if not any(part in SKIPPED_DIRS for part in path.relative_to(root).parts):
            yield path


def extract(package_dir: Path) -> Release:
    """Everything :class:`Release` holds, read from an sglang package directory (``.../site-packages/sglang``).

    Raises:
        FileNotFoundError: the release has no ``multimodal_gen/envs.py``.
    """
    variables = {v.name: v for v in parse_envs_source((package_dir / ENVS_FILE).read_text(encoding="utf-8"))}
    reads = set(variables)
    kernel = package_dir / KERNEL_LOGGING_FILE
    if kernel.is_file():
        for var in parse_kernel_logging_source(kernel.read_text(encoding="utf-8")):
            variables.setdefault(var.name, var)
            reads.add(var.name)
    for path in _runtime_files(package_dir / "multimodal_gen"):
        data = path.read_bytes()
        if b"SGLANG_" not in data:
            continue
        reads |= {m.decode() for m in _MENTION_RE.findall(data)}
        if not _READER_RE.search(data):
            continue  # mentions only: no need to parse it (parsing every file is most of the time)
        try:
            direct, mentioned = parse_direct_reads(data.decode("utf-8", "replace"), str(path.relative_to(package_dir)))
        except SyntaxError:
            continue
        reads |= mentioned
        for var in direct:
            variables.setdefault(var.name, var)
    return Release(version_of(package_dir), tuple(variables.values()), frozenset(reads))


def fingerprint_files(package_dir: Path) -> list[Path]:
    """The files whose content keys the extraction cache (with the version)."""
    candidates = [package_dir / ENVS_FILE, package_dir / KERNEL_LOGGING_FILE, package_dir / "_version.py",
                  *sorted(package_dir.parent.glob(f"{package_dir.name}-*.dist-info/METADATA"))]
    return [p for p in candidates if p.is_file()]


def as_dict(var: UpstreamVar) -> dict[str, Any]:
    return asdict(var)


def _kind_for(type_name: str) -> Kind:
    from backend.envs import scalar_kinds, text_kinds

    table: dict[str, Kind] = {"bool": scalar_kinds.BoolKind(), "int": scalar_kinds.IntKind(),
                              "float": scalar_kinds.FloatKind(), "path": text_kinds.PathKind(),
                              "level": scalar_kinds.LevelKind(), "patterns": text_kinds.PatternsKind(),
                              "one": scalar_kinds.OneKind()}
    return table.get(type_name, text_kinds.TextKind())


_SECRET_WORDS = ("SECRET", "PASSWORD", "TOKEN", "ACCESS_KEY", "CREDENTIAL")


def pane_for(name: str) -> Pane:
    """Where a discovered variable is shown: by prefix, the rest in Runtime's Advanced section."""
    if name.startswith("SGLANG_CACHE_DIT_"):
        return Pane.CACHING
    if name.startswith(("SGLANG_S3_", "SGLANG_CLOUD_")):
        return Pane.STORAGE
    if name.startswith("SGLANG_KERNEL_API_"):
        return Pane.DEBUG
    return Pane.RUNTIME


def to_envvars(release: Release) -> list[EnvVar[Any]]:
    """The release's variables as declarations, through the same kinds as the built-in ones."""
    origin = f"sglang {release.version}"
    names = release.names()
    out: list[EnvVar[Any]] = []
    for var in release.variables:
        kind = _kind_for(var.type)
        default: Any = None
        default_text = None
        if var.default not in (None, "", "[]"):
            try:
                default = kind.read(var.name, var.default or "").value
            except EnvError:
                default_text = var.default
        pane = pane_for(var.name)
        group = f"from {origin}" if pane != Pane.RUNTIME else f"Advanced (from {origin})"
        doc = var.help or f"read by {var.where}"
        if var.type == "custom":
            doc += " (read with its own rules; see the help text)"
        primary = var.name.replace("_SECONDARY_", "_")
        inherits = primary if primary != var.name and primary in names else None
        secret = any(word in var.name for word in _SECRET_WORDS)
        out.append(EnvVar(kind, doc, default=None if inherits else default, default_text=default_text, group=group,
                          pane=pane, name=var.name, origin=origin, inherits_from=inherits, secret=secret))
    return out

"""Which registry is in force: the spec alone, or the spec plus the variables of the sglang the child runs.

Why here (not in the backend): finding the child's interpreter and its ``sglang`` package is the
console's business.  The package is found with ``importlib.util.find_spec`` run by that interpreter
(which imports nothing of sglang, so no torch), and read as source by :mod:`backend.envs.upstream`.
The extraction is cached per release under the console's cache dir, keyed by version and a hash
of the files read, written atomically and privately.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from backend import envs
from backend.atomic_files import atomic_write_bytes
from backend.envs import upstream
from backend.envs.declarations import install_discovered, remove_discovered

_FIND = ("import importlib.util as u; s = u.find_spec('sglang'); "
         "print((list(s.submodule_search_locations or []) or [''])[0] if s else '')")


@dataclass(frozen=True)
class RegistryState:
    """What the console knows about the runtime's variables."""

    release: upstream.Release | None
    python: str | None = None
    package_dir: Path | None = None
    reason: str = ""
    """Why the spec alone is in force (no sglang found, unreadable source...)."""

    def label(self) -> str:
        """For the header: ``spec + sglang 0.5.23`` or ``spec only``."""
        if self.release is None:
            return "spec only"
        return f"spec + sglang {self.release.version}"


_state = RegistryState(None, reason="no sglang looked for")


def current() -> RegistryState:
    return _state


def interpreter_for(command: Sequence[str] | None) -> str | None:
    """The Python that will run ``command``: ``python ...`` itself, a script's ``#!`` interpreter,
    or None for our bundled backend (no sglang to learn from)."""
    if not command:
        return None
    from tui.launch import sglang_mode

    if sglang_mode(command) is None:
        return None
    head = shutil.which(command[0]) or command[0]
    if os.path.basename(head).startswith("python"):
        return head
    try:
        with open(head, "rb") as handle:
            first = handle.readline(512).decode("utf-8", "replace").strip()
    except OSError:
        return None
    if first.startswith("#!"):
        words = first[2:].split()
        if words and os.path.basename(words[0]) == "env" and len(words) > 1:
            return shutil.which(words[1])
        return words[0] if words else None
    return None


def locate_sglang(python: str, timeout: float = 20.0) -> Path | None:
    """The ``sglang`` package directory of ``python``, found without importing sglang."""
    try:
        done = subprocess.run([python, "-c", _FIND], capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = done.stdout.strip()
    if done.returncode != 0 or not text:
        return None
    path = Path(text)
    return path if (path / upstream.ENVS_FILE).is_file() else None


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    return Path(envs.cache_root(environ)) / "console" / "upstream"


def _fingerprint(package_dir: Path) -> str:
    digest = hashlib.sha256()
    for path in upstream.fingerprint_files(package_dir):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def load_release(package_dir: Path, environ: Mapping[str, str] | None = None) -> upstream.Release:
    """The release's extraction, from the cache when its version and files are unchanged."""
    version = upstream.version_of(package_dir)
    cached = cache_dir(environ) / f"{version}-{_fingerprint(package_dir)}.json"
    try:
        return upstream.Release.from_json(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    release = upstream.extract(package_dir)
    try:
        atomic_write_bytes(cached, release.to_json().encode("utf-8"))  # 0600 in a 0700 directory
    except OSError:
        pass  # a read-only cache only costs the next start the extraction again
    return release


def activate(command: Sequence[str] | None = None, python: str | None = None,
             environ: Mapping[str, str] | None = None) -> RegistryState:
    """Put the registry for ``command`` (or the sglang of ``python``) in force and return its state."""
    global _state
    remove_discovered()
    interpreter = python or interpreter_for(command)
    if interpreter is None:
        _state = RegistryState(None, reason="the child is not a real sglang")
        return _state
    package = locate_sglang(interpreter)
    if package is None:
        _state = RegistryState(None, interpreter, reason=f"no sglang with multimodal_gen found for {interpreter}")
        return _state
    try:
        release = load_release(package, environ)
    except (OSError, SyntaxError, ValueError) as exc:
        _state = RegistryState(None, interpreter, package, reason=f"cannot read {package}: {exc}")
        return _state
    install_discovered(upstream.to_envvars(release))
    _state = RegistryState(release, interpreter, package)
    return _state


def not_read_note(var: envs.EnvVar[object], state: RegistryState | None = None) -> str | None:
    """For a spec variable the release in force never reads: what the console does about it."""
    state = state or _state
    if state.release is None or var.origin != "spec" or var.name in state.release.reads:
        return None
    from tui.launch import translated_flag

    where = f"sglang {state.release.version}"
    flag = translated_flag(var.name)
    if flag:
        return f"not read by {where}; the console passes it as {flag}"
    return f"not read by {where}: no effect with this runtime"


def python_for_cli(value: str | None) -> str | None:
    """``--python`` of the env commands: a path or a name on PATH; ``sys.executable`` for ``-``."""
    if value is None:
        return None
    return sys.executable if value == "-" else shutil.which(value) or value

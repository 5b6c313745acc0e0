"""Build the child's command line and environment from the run bar and the session.

Our backend is the default command; any other command line is allowed.  For a real
``sglang generate`` / ``sglang serve`` the console can translate the variables SGLang
documents but does not read into what it does read (reference notes §2.2, 2.3, 2.6, 2.9):
:data:`SGLANG_TRANSLATIONS` says which and how.  A flag already on the command line wins
(never duplicated).  The display string masks every
secret of the registry, whether it appears in the environment or on the command line.

Imports neither textual nor rich.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from backend import envs


@dataclass(frozen=True)
class Translation:
    """A variable SGLang documents but does not read, and what it reads instead."""

    name: str
    flag: str
    argument: Callable[[str], str | None]
    """The flag's argument from the value; None for a bare flag."""
    also_sets: str | None = None
    """A variable SGLang does read, set to the same value unless the environment has it."""


SGLANG_TRANSLATIONS: tuple[Translation, ...] = (
    Translation(envs.LOGGING_LEVEL.name, "--log-level", str.lower),
    Translation(envs.TORCH_PROFILER_DIR.name, "--profile", lambda value: None, also_sets="SGLANG_TORCH_PROFILER_DIR"),
    Translation(envs.ATTENTION_BACKEND.name, "--attention-backend", str),
    Translation(envs.ATTENTION_CONFIG.name, "--attention-backend-config", os.path.expanduser),
)
"""The one table of translations for a real SGLang; :func:`translate_sglang` applies it."""


def translated_flag(name: str) -> str | None:
    """The flag a real SGLang gets for ``name`` (a documented variable it does not read), or None."""
    return next((t.flag for t in SGLANG_TRANSLATIONS if t.name == name), None)


@dataclass
class RunRequest:
    """What the run bar holds."""

    prompt: str = "a red circle"
    """The README's example; the embedded model draws it (see backend/models/vocab.py)."""
    steps: int = 8
    height: int = 64
    width: int = 64
    seed: int = 42
    model_path: str | None = None
    command: list[str] | None = None
    """A custom command line; None runs our backend with the fields above."""
    extra_args: list[str] = field(default_factory=list)
    """Appended to our backend's command line (ignored for a custom command)."""
    translate_sglang: bool = True
    """Translate documented-but-unread variables when the command is a real SGLang."""


@dataclass(frozen=True)
class LaunchPlan:
    """The final command: what the supervisor starts, and what the run bar shows."""

    argv: tuple[str, ...]
    env: dict[str, str]
    display: str
    """Shell-quoted command line with the variables the console added or translated, secrets masked."""
    sglang_mode: str | None = None
    """``generate`` / ``serve`` for a real SGLang command, else None."""
    translations: tuple[str, ...] = ()
    """Human lines, e.g. ``SGLANG_DIFFUSION_LOGGING_LEVEL=DEBUG -> --log-level debug``."""


def default_command(req: RunRequest, python: str | None = None) -> list[str]:
    """Our backend: ``python -m backend generate --prompt ... [--model-path M]``."""
    argv = [python or sys.executable, "-m", "backend", "generate", "--prompt", req.prompt,
            "--num-inference-steps", str(req.steps), "--height", str(req.height), "--width", str(req.width),
            "--seed", str(req.seed)]
    if req.model_path:
        argv += ["--model-path", req.model_path]
    return argv + list(req.extra_args)


def sglang_mode(argv: Sequence[str]) -> str | None:
    """``generate`` / ``serve`` when ``argv`` runs a real SGLang CLI, else None.

    Recognises ``sglang generate``, ``/path/sglang serve``, ``python -m sglang.multimodal_gen... generate``
    and ``python -m sglang.cli... serve``; our ``-m backend`` is not SGLang.
    """
    args = list(argv)
    if not args:
        return None
    head = os.path.basename(args[0])
    rest: list[str] = []
    if head in ("sglang", "sgl-diffusion", "sglang-diffusion"):
        rest = args[1:]
    elif head.startswith("python") and len(args) >= 3 and args[1] == "-m" and args[2].startswith("sglang"):
        rest = args[3:]
    else:
        return None
    for word in rest:
        if word in ("generate", "serve"):
            return word
        if not word.startswith("-"):
            break
    return None


def _has_flag(argv: Sequence[str], flag: str) -> bool:
    return any(a == flag or a.startswith(flag + "=") for a in argv)


def translate_sglang(argv: Sequence[str], env: Mapping[str, str]) -> tuple[list[str], dict[str, str], list[str]]:
    """Add the flags / variables a real SGLang reads for the documented-but-unread ones in ``env``.

    Returns:
        (argv, env, notes): new lists; ``notes`` says what was translated or skipped.
    """
    out = list(argv)
    new_env = dict(env)
    notes: list[str] = []

    def add(flag: str, value: str | None, var: str) -> None:
        if _has_flag(out, flag):
            notes.append(f"{var}: {flag} already given; not translated")
            return
        out.extend([flag] if value is None else [flag, value])
        notes.append(f"{var}={env[var]} -> {flag}{'' if value is None else ' ' + value}")

    for t in SGLANG_TRANSLATIONS:
        value = env.get(t.name)
        if not value:
            continue
        if t.also_sets and t.also_sets not in env:
            new_env[t.also_sets] = value
            notes.append(f"{t.name}={value} -> {t.also_sets}={value}")
        add(t.flag, t.argument(value), t.name)
    return out, new_env, notes


def secret_values(env: Mapping[str, str]) -> list[str]:
    """Values of the registry's secret variables present in ``env`` (to mask anywhere they appear)."""
    return [env[v.name] for v in envs.REGISTRY.values() if v.secret and env.get(v.name)]


def mask(text: str, secrets: Sequence[str]) -> str:
    for value in sorted(secrets, key=len, reverse=True):
        if value:
            text = text.replace(value, envs.mask_secret(value))
    return text


def display_command(argv: Sequence[str], shown_env: Mapping[str, str], secrets: Sequence[str] = ()) -> str:
    """``VAR=value ... cmd args`` shell-quoted, every secret masked."""
    parts = []
    for name, value in shown_env.items():
        var = envs.REGISTRY.get(name)
        value = envs.mask_secret(value) if var is not None and var.secret else value
        parts.append(f"{name}={shlex.quote(value)}")
    parts.append(shlex.join(list(argv)))
    return mask(" ".join(parts), secrets)


def build_launch(req: RunRequest, child_env: Mapping[str, str], base_environ: Mapping[str, str] | None = None,
                 python: str | None = None) -> LaunchPlan:
    """The final argv + env for ``req``.

    Args:
        req: the run bar.
        child_env: the complete child environment (``Session.child_env(os.environ)``).
        base_environ: the console's own environment; variables that differ from it are shown in
            ``display`` (default ``os.environ``).
        python: interpreter for our backend (default ``sys.executable``).
    """
    argv = list(req.command) if req.command else default_command(req, python)
    env = dict(child_env)
    mode = sglang_mode(argv)
    notes: list[str] = []
    if mode is not None and req.translate_sglang:
        argv, env, notes = translate_sglang(argv, env)
    base = os.environ if base_environ is None else base_environ
    shown = {k: v for k, v in env.items() if base.get(k) != v and _managed(k)}
    return LaunchPlan(tuple(argv), env, display_command(argv, shown, secret_values(env)), mode, tuple(notes))


def _managed(name: str) -> bool:
    return name in envs.REGISTRY or name.startswith(envs.MANAGED_PREFIXES) or name.startswith("SGLANG_")


def followed_files(env: Mapping[str, str], perf_fallback: str | None = None) -> list[tuple[str, str]]:
    """Files a run writes that the console should follow: ``(pattern, kind)``.

    * the kernel API log when ``SGLANG_KERNEL_API_LOGDEST`` is a file (``%i`` kept for the tailer);
    * ``performance.log`` in ``SGLANG_PERF_LOG_DIR`` (or ``perf_fallback``, e.g. our backend's
      ``<cache root>/logs``) when set.

    ``kind`` is ``kernel_api`` or ``perf``.
    """
    out: list[tuple[str, str]] = []
    dest = env.get(envs.KERNEL_API_LOGDEST.name, "")
    if dest and dest not in ("stdout", "stderr"):
        out.append((os.path.expanduser(dest), "kernel_api"))
    from backend.records import PERF_LOG_FILE, perf_log_dir

    directory = perf_log_dir(env, fallback=perf_fallback or "")
    if directory:
        out.append((os.path.join(directory, PERF_LOG_FILE), "perf"))
    return out


def dump_roots(env: Mapping[str, str], pids: Sequence[int] = (), cwd: str | None = None) -> list[str]:
    """Kernel API dump roots of a run (``SGLANG_KERNEL_API_DUMP_DIR``, ``%i`` expanded per pid),
    relative ones resolved against the child's ``cwd``."""
    raw = env.get(envs.KERNEL_API_DUMP_DIR.name) or envs.KERNEL_API_DUMP_DIR.default_value(env) or ""
    raw = os.path.expanduser(str(raw))
    roots = [raw.replace("%i", str(p)) for p in pids] if "%i" in raw else [raw]
    return [r if os.path.isabs(r) else os.path.join(cwd or os.getcwd(), r) for r in roots]

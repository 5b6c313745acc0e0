"""The kernel API logging configuration (``SGLANG_KERNEL_API_*``), read once per process, and the
``sglang.kernel_api`` logger it sets up.

Why its own module: the decorator, the dumps and the fork handling all share one per-process
state (the configuration and the per-API dump counters); this is where it lives, torch-free.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOGGER_NAME = "sglang.kernel_api"
LOGGER = logging.getLogger(LOGGER_NAME)
"""The logger every kernel API block goes to (format ``%(message)s``, no propagation)."""


@dataclass(frozen=True)
class KernelApiConfig:
    level: int = 0
    logdest: str = "stdout"
    """As configured; ``%i`` still unexpanded (see :meth:`resolved_logdest`)."""
    dump_dir: str = "sglang_kernel_api_dumps"
    dump_include: tuple[str, ...] = ()
    dump_exclude: tuple[str, ...] = ()

    def resolved_logdest(self, pid: int | None = None) -> str:
        return self.logdest.replace("%i", str(os.getpid() if pid is None else pid))

    def resolved_dump_dir(self, pid: int | None = None) -> Path:
        return Path(self.dump_dir.replace("%i", str(os.getpid() if pid is None else pid)))

    def should_dump(self, api_name: str) -> bool:
        if self.dump_include and not any(fnmatch.fnmatchcase(api_name, p) for p in self.dump_include):
            return False
        return not any(fnmatch.fnmatchcase(api_name, p) for p in self.dump_exclude)


def read_config(environ: Mapping[str, str] | None = None) -> KernelApiConfig:
    """Read the five variables as sglang does (strict with ``SGL_CONSOLE_STRICT``; raises ``EnvError``).

    Only these five are parsed, so a bad unrelated variable cannot break kernel logging.
    """
    from backend import envs

    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var in (
        envs.KERNEL_API_LOGLEVEL,
        envs.KERNEL_API_LOGDEST,
        envs.KERNEL_API_DUMP_DIR,
        envs.KERNEL_API_DUMP_INCLUDE,
        envs.KERNEL_API_DUMP_EXCLUDE,
    ):
        raw = env.get(var.name)
        reading = envs.settings.read_value(var, raw, envs.strict_mode(env)) if raw else None  # upstream's rules
        values[var.attr.removeprefix("kernel_api_")] = reading.value if reading else var.default_value(env)
    return KernelApiConfig(
        level=int(values["loglevel"] or 0),
        logdest=str(values["logdest"] or "stdout"),
        dump_dir=str(values["dump_dir"] or "sglang_kernel_api_dumps"),
        dump_include=tuple(values["dump_include"] or ()),
        dump_exclude=tuple(values["dump_exclude"] or ()),
    )


class _State:
    """The configuration and the per-API dump counters of this process (reset after fork)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.config: KernelApiConfig | None = None
        self.counters: dict[str, int] = {}


STATE = _State()


def current_config() -> KernelApiConfig:
    """The process's configuration, read at the first call (and re-resolved after fork)."""
    cfg = STATE.config
    if cfg is None:
        with STATE.lock:
            if STATE.config is None:
                STATE.config = read_config()
                _setupLOGGER(STATE.config)
            cfg = STATE.config
    return cfg


def reset(environ: Mapping[str, str] | None = None) -> KernelApiConfig:
    """Re-read the configuration from ``environ`` and rebuild the logger (tests, long-lived hosts).

    Functions decorated before keep the wrapper (or lack of one) they got.
    """
    with STATE.lock:
        STATE.config = read_config(environ)
        STATE.counters.clear()
        _setupLOGGER(STATE.config)
        return STATE.config


def _setupLOGGER(cfg: KernelApiConfig) -> None:
    for old in list(LOGGER.handlers):
        LOGGER.removeHandler(old)
        try:
            old.close()
        except Exception:  # noqa: BLE001 - a broken inherited handler must not stop setup
            pass
    LOGGER.propagate = False
    if cfg.level == 0:
        LOGGER.addHandler(logging.NullHandler())
        LOGGER.setLevel(logging.CRITICAL + 1)
        return
    LOGGER.setLevel(logging.DEBUG)
    dest = cfg.resolved_logdest()
    handler: logging.Handler
    if dest == "stdout":
        handler = logging.StreamHandler(sys.stdout)
    elif dest == "stderr":
        handler = logging.StreamHandler(sys.stderr)
    else:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(dest, mode="a", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    LOGGER.addHandler(handler)


def _after_fork_in_child() -> None:
    STATE.lock = threading.Lock()
    STATE.counters = {}
    cfg = STATE.config
    if cfg is not None and cfg.level > 0 and "%i" in cfg.logdest:
        _setupLOGGER(cfg)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

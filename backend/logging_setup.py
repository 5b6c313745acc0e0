"""Logging in SGLang diffusion's line shape: ``[MM-DD HH:MM:SS] message`` on stdout.

The level comes from ``SGLANG_DIFFUSION_LOGGING_LEVEL`` (real SGLang ignores it, we honour it), and an
explicit ``--log-level`` flag overrides it.  Warnings and errors are coloured whole-line exactly as
SGLang 0.5.23 does, on a pipe too (yellow / red around the line *and* its traceback); readers strip ANSI.

Secrets: :func:`redact` registers the session's secret values (S3 keys, the password of an endpoint
URL); every line written here (log lines and raw lines alike) has them replaced by ``********``, so a
message that quotes an exception or a URL cannot leak one.

:func:`emit_raw` writes a non-log line (a serve response, a progress line) under the same lock as the
log handler, so two threads never interleave inside one line.
"""

from __future__ import annotations

import logging
import sys
import threading
from datetime import datetime
from typing import Any, TextIO
from urllib.parse import urlsplit

from backend.records import format_log_line

LOGGER_NAME = "sgl_backend"
_OUTPUT_LOCK = threading.RLock()
_COLOURS = {logging.WARNING: "\x1b[93m", logging.ERROR: "\x1b[91m", logging.CRITICAL: "\x1b[91m"}
_RESET = "\x1b[0;0m"
MASK = "********"
_SECRETS: list[str] = []


def redact(*values: str | None) -> None:
    """Never write these values: every later line has them masked (longest first, so no part shows)."""
    for value in values:
        if value and len(value) >= 3 and value not in _SECRETS:
            _SECRETS.append(value)
    _SECRETS.sort(key=len, reverse=True)


def redact_settings(settings: Any) -> None:
    """Register every secret of ``settings`` (a registry ``Settings``): secret variables' values and
    the userinfo secret of any URL value (``http://user:pw@host`` -> ``pw``; ``http://token@host`` -> ``token``)."""
    for resolved in settings.resolved().values():
        raw = resolved.raw
        if not raw:
            continue
        if resolved.var.secret:
            redact(raw)
        elif "://" in raw and "@" in raw:
            try:
                parts = urlsplit(raw.strip())
            except ValueError:
                continue
            redact(parts.password if parts.password is not None else parts.username)


def scrub(text: str) -> str:
    """``text`` with every registered secret value replaced by the mask."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class SGLangFormatter(logging.Formatter):
    """``[%m-%d %H:%M:%S] message``; no level name, year, milliseconds or logger name.  A worker of
    ``--num-workers`` tags its lines ``[%m-%d %H:%M:%S DP<rank>]`` (:func:`tag_lines`)."""

    tag = ""

    def __init__(self, colour: bool = True) -> None:
        super().__init__()
        self.colour = colour

    def format(self, record: logging.LogRecord) -> str:
        line = format_log_line(record.getMessage(), datetime.fromtimestamp(record.created), SGLangFormatter.tag)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        colour = _COLOURS.get(record.levelno) if self.colour else None
        if colour:
            line = f"{colour}{line}{_RESET}"
        return scrub(line)


class _LockedHandler(logging.StreamHandler):
    def emit(self, record: logging.LogRecord) -> None:
        with _OUTPUT_LOCK:
            super().emit(record)
            self.flush()


def get_logger(name: str = "") -> logging.Logger:
    """The backend's logger (``sgl_backend`` or a child of it)."""
    return logging.getLogger(f"{LOGGER_NAME}.{name}" if name else LOGGER_NAME)


def configure(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Install the one stdout handler on the backend logger (idempotent: re-calls only change level)."""
    logger = logging.getLogger(LOGGER_NAME)
    out = stream or sys.stdout
    if not any(isinstance(h, _LockedHandler) for h in logger.handlers):
        handler = _LockedHandler(out)
        handler.setFormatter(SGLangFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(level.upper())


def tag_lines(tag: str) -> None:
    """Tag every later log line of this process (``DP1``: a data-parallel worker, as SGLang's prefixed
    loggers do), so the console can tell which worker wrote a stage line."""
    SGLangFormatter.tag = tag


def effective_level(env_level: str, flag_level: str | None) -> str:
    """``--log-level`` when given, else ``SGLANG_DIFFUSION_LOGGING_LEVEL`` (default INFO)."""
    return (flag_level or env_level or "INFO").upper()


def emit_raw(text: str, stream: TextIO | None = None) -> None:
    """Write ``text`` plus a newline atomically with respect to log lines, then flush."""
    out = stream or sys.stdout
    with _OUTPUT_LOCK:
        out.write(scrub(text) + "\n")
        out.flush()


def flush_all() -> None:
    """Flush every handler (before exit or after SIGTERM)."""
    for handler in logging.getLogger(LOGGER_NAME).handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()

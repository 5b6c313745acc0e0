"""Importing cache-dit: once, with its stdout INFO chatter off and its log records in the backend's format.

Why a module of its own: the controller (mounting) and the SCM rules (a mask from ``steps_mask``) both
need cache-dit, and neither may import the other for it.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from backend import envs
from backend.logging_setup import get_logger

_QUIET = ("pipe is None, use FakeDiffusionPipeline", "Acceleration hooks is disabled")
"""cache-dit warnings that are expected on every mount/unmount here and say nothing to an operator."""


class _QuietFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not any(text in record.getMessage() for text in _QUIET)


class _ToBackendLog(logging.Handler):
    """Hands cache-dit's records to the backend logger (its handler, its line format)."""

    def emit(self, record: logging.LogRecord) -> None:
        get_logger("cache_dit").handle(record)


_FORWARD = _ToBackendLog()


def import_cache_dit() -> Any:
    """Import cache-dit with its stdout INFO chatter off, its loggers routed into ours.

    cache-dit gives each module logger its own stdout handler at import time (level from
    ``CACHE_DIT_LOG_LEVEL``, default info). We default that variable to ``warning`` (an operator who
    sets it keeps their value), then swap the stdout handler for one that hands what remains (warnings
    and errors) to the backend logger, so it comes out in the backend's line format.
    """
    explicit = bool(os.environ.get("CACHE_DIT_LOG_LEVEL"))
    os.environ.setdefault("CACHE_DIT_LOG_LEVEL", "warning")
    import cache_dit

    quiet = _QuietFilter()
    forward = _FORWARD
    for name in list(logging.Logger.manager.loggerDict):
        if not (name == "CACHE_DIT" or name.startswith("cache_dit")):
            continue
        log = logging.getLogger(name)
        for handler in list(log.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                log.removeHandler(handler)
        if forward not in log.handlers:
            log.addHandler(forward)
        log.propagate = False
        if not explicit:  # also when something imported cache-dit before us, at its default (info)
            log.setLevel(max(log.level, logging.WARNING))
        if not any(isinstance(f, _QuietFilter) for f in log.filters):
            log.addFilter(quiet)
    return cache_dit


def preload(settings: envs.Settings) -> bool:
    """Import cache-dit at startup when caching is on, so the first request's timing does not carry
    the import (about 5-7 s on CPU).  Returns whether it was imported."""
    if not settings[envs.CACHE_DIT_ENABLED]:
        return False
    import_cache_dit()
    return True

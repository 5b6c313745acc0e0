"""Ordinary log lines ``[MM-DD HH:MM:SS] message``: the prefix writer and splitter, and ANSI stripping.

A rank tag may sit inside the brackets, ``[MM-DD HH:MM:SS DP1] message``: SGLang's ``configure_logger``
takes a ``prefix`` that goes right after the time (``[%(asctime)s{prefix}]``; the LLM runtime passes
`` TP0``, `` DP0 TP1``..., diffusion passes none).  Our backend's ``--num-workers`` workers are data-parallel
replicas and tag their lines `` DP<rank>``, so the console can tell whose stage lines it reads.

Split out of :mod:`backend.records` (which re-exports every name here) so that it and
:mod:`backend.records.kernel_records` can both use these helpers without an import cycle. Standard library only.
"""

from __future__ import annotations

import re
from datetime import datetime

LOG_DATE_FORMAT = "%m-%d %H:%M:%S"
"""``datefmt`` of SGLang diffusion's root logger (format ``[%(asctime)s] %(message)s``)."""

_ANSI_RE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_DIFFUSION_PREFIX_RE = re.compile(r"^\[(\d{2}-\d{2} \d{2}:\d{2}:\d{2})((?: [A-Z]{2,4}\d+)*)\] ")
_DP_TAG_RE = re.compile(r"(?:^| )DP(\d+)(?: |$)")
_UVICORN_PREFIX_RE = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] ([A-Z]+):\s+")


def strip_ansi(s: str) -> str:
    """Remove ANSI escape sequences (SGLang colours whole lines and paths/durations inside them)."""
    return _ANSI_RE.sub("", s)


def format_log_line(message: str, when: datetime | None = None, tag: str = "") -> str:
    """Render ``[MM-DD HH:MM:SS] message``, the shape of SGLang diffusion's log lines (``tag``, e.g.
    ``DP1``: ``[MM-DD HH:MM:SS DP1] message``, the shape of a prefixed SGLang logger)."""
    stamp = (when or datetime.now()).strftime(LOG_DATE_FORMAT)
    return f"[{stamp} {tag}] {message}" if tag else f"[{stamp}] {message}"


def split_log_prefix(line: str) -> tuple[str | None, str | None, str]:
    """Split an (ANSI-free) line into ``(stamp, level, message)``.

    Recognises the diffusion prefix ``[MM-DD HH:MM:SS] `` (a rank tag inside it allowed; level ``None``)
    and the uvicorn prefix
    ``[YYYY-MM-DD HH:MM:SS] LEVEL:<pad>``; a line with neither comes back as ``(None, None, line)``.
    """
    m = _DIFFUSION_PREFIX_RE.match(line)
    if m:
        return m.group(1), None, line[m.end() :]
    m = _UVICORN_PREFIX_RE.match(line)
    if m:
        return m.group(1), m.group(2), line[m.end() :]
    return None, None, line


def log_rank_tag(line: str) -> str | None:
    """The rank tag of an (ANSI-free) log line, ``DP1`` in ``[MM-DD HH:MM:SS DP1] ...``, or None."""
    if not line.startswith("["):
        return None
    m = _DIFFUSION_PREFIX_RE.match(line)
    return m.group(2).strip() or None if m else None


def dp_rank(tag: str | None) -> int | None:
    """The data-parallel rank a tag names (``DP1`` and ``DP1 TP0`` -> 1), or None."""
    m = _DP_TAG_RE.search(tag) if tag else None
    return int(m.group(1)) if m else None


CYAN = "\x1b[1;36m"
GREEN = "\x1b[92m"
RESET = "\x1b[0;0m"
"""SGLang's inline colours: paths in cyan, durations in green (``logging_utils.py``)."""

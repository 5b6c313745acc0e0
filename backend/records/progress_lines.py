"""The tqdm denoising progress bar: its ``\\r`` fragments written and read back (:class:`ProgressRecord`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_BAR_WIDTH = 10
_BAR_CHARS = " ▏▎▍▌▋▊▉█"
_PROGRESS_RE = re.compile(
    r"(?:(?P<desc>[^|\r\n]*?): *)?(?P<pct>\d{1,3})%\|(?P<bar>[^|]*)\| *(?P<n>\d+)/(?P<total>\d+)"
    r" \[(?P<elapsed>[\d:]+)<(?P<remaining>[\d:]+|\?)"
    r"(?:, *(?P<rate>[\d.]+|\?)(?P<unit>it/s|s/it))?"
)


@dataclass(frozen=True)
class ProgressRecord:
    """One tqdm progress update (ours, one line per step, or a real tqdm fragment split on ``\\r``)."""

    step: int
    total: int
    percent: int
    elapsed_s: float
    remaining_s: float | None
    rate_its: float | None
    """Iterations per second (tqdm's ``s/it`` form is inverted); ``None`` before the first step."""
    desc: str = ""

    @classmethod
    def parse(cls, text: str) -> ProgressRecord | None:
        m = _PROGRESS_RE.search(text)
        if not m:
            return None
        rate: float | None = None
        if m.group("rate") and m.group("rate") != "?":
            rate = float(m.group("rate"))
            if m.group("unit") == "s/it":
                rate = 1.0 / rate if rate else None
        rem = m.group("remaining")
        return cls(
            step=int(m.group("n")),
            total=int(m.group("total")),
            percent=int(m.group("pct")),
            elapsed_s=_parse_interval(m.group("elapsed")),
            remaining_s=None if rem == "?" else _parse_interval(rem),
            rate_its=rate,
            desc=(m.group("desc") or "").strip(),
        )


def _format_interval(seconds: float) -> str:
    mins, s = divmod(int(seconds), 60)
    h, m = divmod(mins, 60)
    return f"{h:d}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def _parse_interval(text: str) -> float:
    total = 0
    for part in text.split(":"):
        total = total * 60 + int(part)
    return float(total)


def progress_message(step: int, total: int, elapsed_s: float) -> str:
    """A tqdm-shaped progress line, e.g. `` 50%|█████     | 4/8 [00:01<00:01,  3.20it/s]``.

    Same bar (10 cells, eighth blocks), intervals and rate formats as tqdm's default without a tty.
    """
    frac = step / total if total else 0.0
    full, part = divmod(int(frac * _BAR_WIDTH * (len(_BAR_CHARS) - 1)), len(_BAR_CHARS) - 1)
    bar = "█" * full
    if full < _BAR_WIDTH:
        bar += _BAR_CHARS[part] + " " * (_BAR_WIDTH - full - 1)
    rate = step / elapsed_s if step and elapsed_s > 0 else None
    if rate is None:
        remaining, rate_txt = "?", "?it/s"
    else:
        remaining = _format_interval((total - step) / rate)
        rate_txt = f"{rate:5.2f}it/s" if rate >= 1 else f"{1 / rate:5.2f}s/it"
    return f"{frac * 100:3.0f}%|{bar}| {step}/{total} [{_format_interval(elapsed_s)}<{remaining}, {rate_txt}]"

"""TimingsView: per-stage table, per-step chart, denoising progress, run history with deltas.

It renders the router's ``RequestTimings`` snapshots (stage rows, progress, perf record);
it parses nothing.  Both tables are :class:`RingTable` (bounded, no relayout per update), and
the update methods work before the view is first shown (the console composes it then).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Sparkline

from backend.envs import STAGE_LOGGING
from tui.widgets.ring_table import Column, RingTable
from tui.widgets.status_line import StatusLine

MAX_HISTORY = 1000
"""Finished requests kept in the history table (a long session's oldest go first)."""
STAGE_COLUMNS = (Column("stage"), Column("state", 7), Column("seconds", 8, right=True), Column("Δ prev", 6, right=True))
HISTORY_COLUMNS = (Column("run", 7), Column("total s", 7, right=True), Column("Δ", 5, right=True),
                   Column("step ms", 7, right=True), Column("cache"))


def cache_hit_text(cache_stats: dict[str, Any] | None) -> str:
    """A short "cache hit" phrase from a perf record's ``cache_stats`` (shapes vary by runtime)."""
    if not cache_stats:
        return ""
    stats = cache_stats
    cached, computed = stats.get("cached_steps"), stats.get("computed_steps")
    counted = isinstance(cached, int) and isinstance(computed, int) and cached + computed > 0
    for key in ("hit_ratio", "cache_hit_ratio", "hit_rate"):
        if isinstance(stats.get(key), (int, float)):
            steps = f" ({cached}/{cached + computed} steps)" if counted else ""  # type: ignore[operator]  # counted: both are ints
            return f"cache hit {float(stats[key]):.0%}{steps}"
    cached = stats.get("cached_steps", stats.get("cache_hits"))
    total = stats.get("total_steps", stats.get("steps"))
    if isinstance(cached, (int, float)) and isinstance(total, (int, float)) and total:
        return f"cache hit {cached / total:.0%} ({int(cached)}/{int(total)} steps)"
    shown = ", ".join(f"{k}={v}" for k, v in list(stats.items())[:3] if not isinstance(v, (dict, list)))
    return f"cache {shown}" if shown else ""


def _delta(now: float | None, before: float | None) -> str:
    if now is None or before is None or before <= 0:
        return ""
    change = (now - before) / before
    return f"{change:+.0%}"


class TimingsView(Vertical):
    """Current request on top (progress, steps chart, stages); history of this session's runs below."""

    DEFAULT_CSS = """
    TimingsView {
        height: 1fr;
        & > .progress-row { height: 1; }
        & > .progress-row > ProgressBar { width: auto; }
        & > .progress-row > .progress-label { width: 1fr; padding-left: 1; }
        & > .summary { height: 1; width: 1fr; }
        & > Sparkline { height: 3; margin: 0 1; }
        & > Horizontal { height: 1fr; }
        & RingTable { width: 1fr; height: 1fr; }
    }
    """

    def __init__(self, max_history: int = MAX_HISTORY, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._stages = RingTable(STAGE_COLUMNS, max_rows=200, id="stages")
        self._history_table = RingTable(HISTORY_COLUMNS, max_rows=max_history, id="history")
        self._history: list[Any] = []
        self._max_history = max_history
        self._current: Any = None
        self._shown_label = ""
        self._workers: dict[int, str] = {}
        """``--num-workers`` runs: rank -> ``worker R (pid P, DEVICE)``, for a request's ``rank``."""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="progress-row"):
            # total=1, not None: an indeterminate bar animates at 15 frames a second while idle
            yield ProgressBar(total=1, show_eta=False, id="progress")
            yield StatusLine("no request yet", classes="progress-label", id="progress-label")
        yield StatusLine(classes="summary", id="summary")
        yield Sparkline([], id="steps")
        with Horizontal():
            yield self._stages
            yield self._history_table

    def on_mount(self) -> None:
        if self._current is not None:
            self._paint_current(self._current)

    @property
    def history_table(self) -> RingTable:
        return self._history_table

    def show_workers(self, labels: Mapping[int, str]) -> None:
        """Which worker (rank, pid, device) each rank is (``--num-workers`` runs)."""
        self._workers.update(labels)

    def show_history(self, finished: Iterable[Any]) -> None:
        """Append finished requests (``RequestTimings``) to the history table."""
        rows = []
        for req in finished:
            before = self._history[-1].total_s if self._history else None
            steps = req.steps_ms
            mean = f"{sum(steps) / len(steps):.1f}" if steps else ""
            total = req.total_s
            cache = cache_hit_text(req.perf.cache_stats if req.perf else None)
            run = f"#{req.index + 1}" if req.rank is None else f"#{req.index + 1} w{req.rank}"
            rows.append((req, (run, f"{total:.3f}" if total is not None else "?",
                               _delta(total, before), mean, cache.removeprefix("cache hit "))))
            self._history.append(req)
        if len(self._history) > self._max_history * 2:
            del self._history[: len(self._history) - self._max_history]
        self._history_table.append_rows(rows)

    def clear(self) -> None:
        """A new run: forget the current request (the history of the session stays)."""
        self._current = None
        self._workers.clear()
        self._stages.clear()
        if self.is_mounted:
            self.query_one("#progress", ProgressBar).update(total=1, progress=0)
            self.query_one("#progress-label", StatusLine).update("no request yet")
            self.query_one("#summary", StatusLine).update("")
            self.query_one(Sparkline).data = []

    def show_current(self, req: Any | None) -> None:
        """Show the current request's stages, steps and progress."""
        if req is None:
            return
        self._current = req
        previous = self._previous_seconds(req)
        seconds = req.stage_seconds()
        self._stages.clear()
        self._stages.append_rows(
            (row.name, (row.name, row.state, f"{value:.4f}" if value is not None else "…",
                        _delta(value, previous.get(row.name))))
            for row in req.stages for value in (seconds.get(row.name),)
        )
        if self.is_mounted:
            self._paint_current(req)

    def _paint_current(self, req: Any) -> None:
        progress = req.progress
        label = ""
        if progress is not None:
            self.query_one("#progress", ProgressBar).update(
                total=max(1, progress.total), progress=progress.step
            )
            rate = f" · {progress.rate_its:.2f} it/s" if progress.rate_its else ""
            label = f"denoising step {progress.step}/{progress.total}{rate}"
        running = [s.name for s in req.stages if s.state == "running"]
        if running and (progress is None or progress.step >= progress.total):
            label = f"running {running[-1]}"
        elif req.finished and req.total_s is not None:
            label = f"request #{req.index + 1} done in {req.total_s:.3f} s"
        if label and req.rank is not None:
            label += f" · {self._workers.get(req.rank, f'worker {req.rank}')}"
        if label:
            self.query_one("#progress-label", StatusLine).update(label)
        steps = req.steps_ms
        chart = self.query_one(Sparkline)
        chart.data = steps or [0.0]
        chart.display = bool(steps)  # a chart of one zero is a full-height block, not "nothing yet"
        if steps:
            summary = f"{len(steps)} steps"
        elif req.finished:
            summary = f"no per-step times in this run's output ({STAGE_LOGGING.name}=1 records them)"
        else:
            summary = "no steps yet"
        if steps:
            summary += (
                f" · min {min(steps):.1f} · mean {sum(steps) / len(steps):.1f} · max {max(steps):.1f} ms"
            )
        cache = cache_hit_text(req.perf.cache_stats if req.perf else None)
        if cache:
            summary += f" · {cache}"
        self.query_one("#summary", StatusLine).update(summary)

    def _previous_seconds(self, req: Any) -> dict[str, float]:
        for old in reversed(self._history):
            if old.index != req.index:
                return dict(old.stage_seconds())
        return {}

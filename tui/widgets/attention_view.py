"""AttentionView: the watched attention config — last reload, diff, error with its line."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Static

RESIDENT_NOTE = "a resident backend will apply this before its next request"


class AttentionView(Vertical):
    """Status (path, reload time), the change as a diff, and the config now in force."""

    DEFAULT_CSS = """
    AttentionView {
        height: 1fr;
        & > .status, & > .note { height: auto; width: 1fr; }
        & > VerticalScroll { height: 1fr; }
        & .diff, & .config { height: auto; }
        &.-error > .status { text-style: bold; }
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.last_event: Any = None
        self._last_resident = False
        self._watching: str | None = None
        self.shown_at: float | None = None
        """``time.time()`` when the latest event reached the screen (benchmarks read it)."""

    def compose(self) -> ComposeResult:
        yield Label(_watching_text(self._watching), classes="status", id="status", markup=False)
        yield Label("", classes="note", id="note", markup=False)
        with VerticalScroll():
            yield Static("", classes="diff", id="diff", markup=False)
            yield Static("", classes="config", id="config", markup=False)

    def on_mount(self) -> None:
        """What arrived before the view was first shown (the console composes it then)."""
        if self.last_event is not None:
            self._paint_event(self.last_event, self._last_resident)

    def show_watching(self, path: str | None) -> None:
        self._watching = path
        if self.is_mounted:
            self.query_one("#status", Label).update(_watching_text(path))

    def show_event(self, event: Any, resident: bool) -> None:
        """A ``backend.attention_watch.ReloadEvent``; ``resident`` says a backend is running now."""
        self.last_event, self._last_resident = event, resident
        if self.is_mounted:
            self._paint_event(event, resident)

    def _paint_event(self, event: Any, resident: bool) -> None:
        stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
        status = Text(f"{event.path} · ")
        if event.ok:
            status.append(f"{'loaded' if event.initial else 'reloaded'} at {stamp}", style="bold")
        else:
            where = f"line {event.line}: " if event.line else ""
            status.append(f"error at {stamp}: {where}{event.error}", style="bold red")
            status.append(" (keeping the last good config)")
        self.query_one("#status", Label).update(status)
        self.set_class(not event.ok, "-error")
        note = RESIDENT_NOTE if (resident and event.ok and not event.initial) else ""
        self.query_one("#note", Label).update(note)
        diff = Text()
        for line in event.diff_lines:
            style = {"+": "green", "-": "red", "~": "yellow"}.get(line[:1], "")
            diff.append(line + "\n", style=style)
        if not event.diff_lines:
            diff.append("(no change)\n" if event.ok else "", style="dim")
        self.query_one("#diff", Static).update(diff)
        config = json.dumps(event.config, indent=2, sort_keys=True) if event.config is not None else "(none)"
        self.query_one("#config", Static).update("config in force:\n" + config)
        self.shown_at = time.time()


def _watching_text(path: str | None) -> str:
    return f"watching {path}" if path else "SGLANG_DIFFUSION_ATTENTION_CONFIG is not set: nothing to watch"

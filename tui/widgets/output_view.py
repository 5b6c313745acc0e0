"""OutputView: the child's stdout/stderr with follow, regex filter (inverted), search, save and copy."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Checkbox, Input

from tui.widgets.output_log import OutputLog
from tui.widgets.status_line import StatusLine


class OutputView(Vertical):
    """Toolbar (filter, invert, search), the log, and a status line (follow, unseen lines, matches)."""

    DEFAULT_CSS = """
    OutputView {
        height: 1fr;
        & > .toolbar { height: 1; }
        & > .toolbar > Input { width: 1fr; }
        & > .toolbar > Checkbox { width: auto; height: 1; border: none; padding: 0 1; }
        & > .status { height: 1; width: 1fr; }
    }
    """
    BINDINGS = [
        Binding("slash", "focus_filter", "Filter", tooltip="Regex filter of the output"),
        Binding("s", "focus_search", "Search"),
        Binding("n", "next_match", "Next", show=False),
        Binding("N", "prev_match", "Prev", show=False),
        Binding("i", "toggle_invert", "Invert", show=False),
        Binding("f", "follow", "Follow", show=False),
        Binding("w", "save", "Save log", show=False),
        Binding("y", "copy", "Copy", show=False),
    ]

    def __init__(self, save_dir: str | None = None, **kwargs: Any) -> None:
        """Args:
            save_dir: where "save to file" writes (the session's cache root); a temp dir when None.
        """
        super().__init__(**kwargs)
        self.save_dir = save_dir
        self._log = OutputLog(id="log")
        """Built here so lines given before the view is first shown are kept (composed on first show)."""
        self._filter_error = ""
        self._search_text = ""
        self._match_info = ""

    def compose(self) -> ComposeResult:
        with Horizontal(classes="toolbar"):
            yield Input(placeholder="/ filter (regex)", id="filter", compact=True)
            yield Checkbox("invert", id="invert", compact=True)
            yield Input(placeholder="s search (enter: next)", id="search", compact=True)
        yield self._log
        yield StatusLine(classes="status", id="status")

    @property
    def log_widget(self) -> OutputLog:
        return self._log

    def on_mount(self) -> None:
        self.watch(self.log_widget, "follow", self._show_status)
        self.watch(self.log_widget, "unseen", self._show_status)
        self._paint_status()

    def add_lines(self, lines: Sequence[Any]) -> None:
        """Lines from the router's batch (already split by stream)."""
        self.log_widget.add_lines(lines)
        self._show_status()

    # ---- status ---------------------------------------------------------------------------
    def _show_status(self, *_: object) -> None:
        if self.is_mounted:  # before the first show the status is drawn on mount
            self._paint_status()

    def _paint_status(self) -> None:
        log = self.log_widget
        parts = ["follow ●" if log.follow else f"paused: {log.unseen} new lines (End: follow)"]
        parts.append(f"{len(log.shown_lines)} lines")
        if self._filter_error:
            parts.append(self._filter_error)
        if self._match_info:
            parts.append(self._match_info)
        self.query_one("#status", StatusLine).update(" · ".join(parts))
        self.set_class(not log.follow, "-paused")

    # ---- filter and search ------------------------------------------------------------------
    def _compile(self, text: str) -> tuple[re.Pattern[str] | None, str]:
        if not text:
            return None, ""
        try:
            return re.compile(text, re.IGNORECASE if text.islower() else 0), ""
        except re.error as exc:
            return None, f"bad regex: {exc}"

    def _apply_filter(self) -> None:
        pattern, self._filter_error = self._compile(self.query_one("#filter", Input).value)
        self.query_one("#filter", Input).set_class(bool(self._filter_error), "-invalid")
        self.log_widget.set_filter(pattern, self.query_one("#invert", Checkbox).value)
        if self._search_text:
            self._apply_search(self._search_text)
        self._show_status()

    def _apply_search(self, text: str) -> None:
        self._search_text = text
        pattern, error = self._compile(text)
        count = self.log_widget.set_search(pattern)
        self._match_info = error or (f"{count} matching lines" if pattern else "")
        self._show_status()

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id == "filter":
            self._apply_filter()
        elif event.input.id == "search":
            self._apply_search(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "search":
            self.action_next_match()
        else:
            self.log_widget.focus()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._apply_filter()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_toggle_invert(self) -> None:
        box = self.query_one("#invert", Checkbox)
        box.value = not box.value

    def _jump(self, forward: bool) -> None:
        position, count = self.log_widget.jump(forward)
        self._match_info = f"match {position}/{count}" if count else "no match"
        self._show_status()

    def action_next_match(self) -> None:
        self._jump(True)

    def action_prev_match(self) -> None:
        self._jump(False)

    def action_follow(self) -> None:
        self.log_widget.follow = True

    # ---- save and copy ----------------------------------------------------------------------
    def action_save(self) -> None:
        lines = [line.plain for line in self.log_widget.shown_lines]
        self._write(lines)

    @work(thread=True, exclusive=True, group="save-output")
    def _write(self, lines: list[str]) -> None:
        import tempfile

        folder = self.save_dir or tempfile.gettempdir()
        path = os.path.join(folder, time.strftime("output-%Y%m%d-%H%M%S.log"))
        try:
            os.makedirs(folder, exist_ok=True)
            with open(path, "w", encoding="utf-8", errors="replace") as fh:
                fh.write("\n".join(lines) + ("\n" if lines else ""))
        except OSError as exc:
            self.app.call_from_thread(self.notify, f"cannot save: {exc}", severity="error")
            return
        self.app.call_from_thread(self.notify, f"saved {len(lines)} lines to {path}")

    def copy_text(self) -> str:
        """What ``y`` copies: the current search match, else the lines on screen."""
        log = self.log_widget
        match = log.current_match_text()
        if match is not None:
            return match
        top = int(log.scroll_y)
        return "\n".join(line.plain for line in log.shown_lines[top: top + max(1, log.size.height)])

    def action_copy(self) -> None:
        text = self.copy_text()
        self.app.copy_to_clipboard(text)
        self.notify(f"copied {len(text)} characters (OSC 52)", timeout=2)

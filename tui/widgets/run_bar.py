"""RunBar: what to run (prompt, steps, size, seed, model path, command) and the final command line."""

from __future__ import annotations

import re
import shlex
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Checkbox, Input

from tui.launch import RunRequest
from tui.widgets.status_line import StatusLine

_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX*]\s*(\d+)\s*$")


class RunBar(Vertical):
    """Two rows of inputs and one status line (final command, or why a run was refused)."""

    DEFAULT_CSS = """
    RunBar {
        height: 3;
        & > Horizontal { height: 1; }
        & Input { width: 1fr; }
        & #steps { width: 9; }
        & #size { width: 13; }
        & #seed { width: 10; }
        & Checkbox { width: auto; height: 1; border: none; padding: 0 1; }
        & > .status { height: 1; width: 1fr; }
    }
    """

    state: reactive[str] = reactive("idle")
    """Supervisor state shown at the start of the status line."""

    def __init__(self, command: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._command = command

    def compose(self) -> ComposeResult:
        start = RunRequest()  # the defaults live in one place
        with Horizontal():
            yield Input(start.prompt, placeholder="prompt", id="prompt", compact=True)
            yield Input(str(start.steps), placeholder="steps", id="steps", compact=True, type="integer")
            yield Input(f"{start.width}x{start.height}", placeholder="WxH", id="size", compact=True)
            yield Input(str(start.seed), placeholder="seed", id="seed", compact=True, type="integer")
        with Horizontal():
            yield Input(placeholder="model path (default: the bundled tiny model)", id="model", compact=True)
            yield Input(shlex.join(self._command) if self._command else "",
                        placeholder="command (default: our backend; e.g. sglang generate ...)",
                        id="command", compact=True)
            yield Checkbox("SGLang flags", value=True, id="translate", compact=True,
                           tooltip="For a real sglang command: translate the documented-but-unread variables")
        # A StatusLine, not a Label: under a flood the status changes every second ("sampled ...")
        # and a Label's update lays out the whole screen each time.
        yield StatusLine("F5 run · F6 stop · F7 restart · enter: preview the command line", classes="status",
                         id="run-status")

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def problems(self) -> list[str]:
        """What is wrong with the run bar's own fields (empty when it can run)."""
        found = []
        if not self._value("prompt") and not self._value("command"):
            found.append("the prompt is empty")
        steps = self._value("steps")
        if not steps.isdigit() or int(steps) <= 0:
            found.append(f"steps must be a positive integer, not {steps!r}")
        if not _SIZE_RE.match(self._value("size")):
            found.append(f"size must be WxH, e.g. 64x64, not {self._value('size')!r}")
        if not re.fullmatch(r"-?\d+", self._value("seed")):
            found.append(f"seed must be an integer, not {self._value('seed')!r}")
        try:
            shlex.split(self._value("command"))
        except ValueError as exc:
            found.append(f"command: {exc}")
        return found

    def request_fields(self) -> dict[str, Any]:
        """The fields as ``tui.launch.RunRequest`` keyword arguments (call :meth:`problems` first)."""
        m = _SIZE_RE.match(self._value("size"))
        width, height = (int(m.group(1)), int(m.group(2))) if m else (64, 64)
        command = shlex.split(self._value("command")) or None
        return {
            "prompt": self._value("prompt"), "steps": int(self._value("steps") or 8),
            "height": height, "width": width, "seed": int(self._value("seed") or 0),
            "model_path": self._value("model") or None, "command": command,
            "translate_sglang": self.query_one("#translate", Checkbox).value,
        }

    def set_command(self, command: list[str] | None) -> None:
        self.query_one("#command", Input).value = shlex.join(command) if command else ""

    def show_status(self, text: str, error: bool = False) -> None:
        """The final command line, the stop escalation, or why the run was refused."""
        self.query_one("#run-status", StatusLine).update(Text(text, style="bold red" if error else ""))
        self.set_class(error, "-refused")

    class PreviewRequested(Message):
        """Enter in a run bar field: show the final command line without running it."""

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.PreviewRequested())

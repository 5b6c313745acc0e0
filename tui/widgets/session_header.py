"""SessionHeader: the session's name, its unsaved marker and its error/warning counts."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.upstream_registry import current as current_registry


class SessionHeader(Widget):
    """One line at the top: ``session default ● unsaved · 1 error · 2 warnings · idle  registry: spec only``."""

    DEFAULT_CSS = """
    SessionHeader {
        height: 1;
        width: 1fr;
    }
    """

    name_text: reactive[str] = reactive("default")
    dirty: reactive[bool] = reactive(False)
    errors: reactive[int] = reactive(0)
    warnings: reactive[int] = reactive(0)
    registry: reactive[str] = reactive(lambda: current_registry().label())
    """Which registry is in force: ``spec only`` or ``spec + sglang 0.5.23``."""
    run_state: reactive[str] = reactive("idle")
    """The supervisor's visible state (``running``, ``stopping: SIGTERM (3s)`` ...)."""

    def watch_errors(self, errors: int) -> None:
        self.set_class(errors > 0, "-errors")

    def watch_dirty(self, dirty: bool) -> None:
        self.set_class(dirty, "-dirty")

    def render(self) -> Text:
        text = Text.assemble(("sgl-console", "bold"), "  session ", (self.name_text, "bold"))
        if self.dirty:
            text.append(" ● unsaved", style="bold")
        plural = "" if self.errors == 1 else "s"
        text.append(f"  {self.errors} error{plural}", style="bold red" if self.errors else "dim")
        plural = "" if self.warnings == 1 else "s"
        text.append(f" · {self.warnings} warning{plural}", style="yellow" if self.warnings else "dim")
        text.append(f"  [{self.run_state}]", style="bold" if self.run_state != "idle" else "dim")
        text.append(f"  registry: {self.registry}", style="dim")
        return text

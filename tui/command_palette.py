"""The console's command palette: every action, every settings pane and every live view by name.

Why a table: the palette, the footer and the tests read one list of actions; a new action is one
row here, and the test checks that each row names an action the app has.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual.app import SystemCommand

from backend.envs import Pane

VIEWS = (("output", "Output"), ("timings", "Timings"), ("kernel", "Kernel API"), ("process", "Process"),
         ("image", "Image"), ("attention", "Attention"))
"""Live views: (id suffix, tab label)."""

ACTIONS = (
    ("run", "Run", "Start the backend with the session and the run bar (F5)"),
    ("stop", "Stop", "Stop the backend: SIGINT, SIGTERM, SIGKILL (F6)"),
    ("restart", "Restart", "Stop and run again with the current session (F7)"),
    ("preview", "Preview command line", "The final command and env the run would use (enter in the run bar)"),
    ("rerun(3)", "Re-run with kernel API level 3", "Argument shapes and dtypes"),
    ("rerun(5)", "Re-run with kernel API level 5", "Adds tensor statistics"),
    ("rerun(10)", "Re-run with kernel API level 10", "Also dumps inputs and outputs"),
    ("save", "Save session", "Write the session file (ctrl+s)"),
    ("save_as", "Save session as…", "Save under a new name (F8)"),
    ("load", "Load session…", "Open a saved session (ctrl+o)"),
    ("diff", "Diff session…", "Against the defaults or another session (F9)"),
    ("crash_report", "Show crash report", "The last abnormal exit (F10)"),
    ("focus_run_bar", "Focus run bar", "Edit prompt, steps, size, seed, model, command (F4)"),
    ("reset_field", "Reset field to default", "The focused variable (ctrl+r)"),
    ("reveal", "Reveal secret", "Show or hide the focused secret (ctrl+g)"),
    ("save_output", "Save output to file", "The filtered output lines"),
    ("copy_output", "Copy output (OSC 52)", "The current match, else the visible lines"),
    ("quit", "Quit", "Stop the backend and leave (ctrl+q)"),
)
"""Every action, for the command palette (pane switching is added from the registry's panes)."""


def console_commands(app: Any) -> Iterable[SystemCommand]:
    """The palette's entries for ``app`` (a ``ConsoleApp``): its actions, then panes, then views."""
    for action, title, help_text in ACTIONS:
        yield SystemCommand(title, help_text, lambda a=action: app.run_action(a))
    for pane in Pane:
        yield SystemCommand(f"Show pane {pane.value}", f"Settings: {pane.value} variables",
                            lambda p=pane.name.lower(): app.action_show(p))
    for view, label in VIEWS:
        yield SystemCommand(f"Show view {label}", f"Live: {label}", lambda v=view: app.action_show(v))

"""The session's actions of the console: save, save as, load, diff, reset and reveal a field.

Why apart from ``app.py``: the app is wiring; these are the operator's verbs on the session, each
a small dialog flow (a modal screen, then the session's own method, then a notice).  Errors of
the session (a conflict with another writer, a bad name, an unreadable file) become notices;
nothing here writes a file itself.
"""

from __future__ import annotations

import os
from typing import Any

from textual.app import App

from tui.messages import SessionChanged
from tui.widgets.var_field import VarField


class SessionActions(App[int]):
    """Mixed into ``ConsoleApp`` (which provides ``session``, ``environ`` and ``_refresh_session``)."""

    session: Any
    environ: dict[str, str]

    def _refresh_session(self, reload_values: bool) -> None:  # pragma: no cover - ConsoleApp's
        raise NotImplementedError

    def action_save(self) -> None:
        from tui.session import SessionConflict, SessionError

        try:
            path = self.session.save()
        except SessionConflict:  # another writer saved meanwhile: ask, never overwrite silently
            from tui.screens.conflict_screen import ask_about_conflict

            def done(what: str) -> None:
                self.notify(f"session {self.session.name!r}: {what}")
                self.post_message(SessionChanged(None))

            ask_about_conflict(self, self.session, done)
            return
        except SessionError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"saved session {self.session.name!r} ({os.path.basename(str(path))})")
        self._refresh_session(reload_values=False)

    def action_save_as(self) -> None:
        from tui.screens.save_as_screen import SaveAsScreen

        def done(name: str | None) -> None:
            if name:
                from tui.session import SessionError

                try:
                    self.session.save_as(name)
                except SessionError as exc:
                    self.notify(str(exc), severity="error")
                    return
                self.notify(f"saved as {name!r}")
                self.post_message(SessionChanged(None))

        self.push_screen(SaveAsScreen(self.session.name), done)

    def action_load(self) -> None:
        from tui.screens.load_screen import LoadScreen
        from tui.session import Session, SessionError, list_sessions

        def done(name: str | None) -> None:
            if not name:
                return
            try:
                self.session = Session.load(name, self.environ)
            except SessionError as exc:
                self.notify(str(exc), severity="error")
                return
            self.notify(f"loaded session {name!r}")
            self.post_message(SessionChanged(None))

        self.push_screen(LoadScreen(list_sessions(self.environ)), done)

    def action_diff(self) -> None:
        from tui.screens.diff_screen import DiffScreen
        from tui.session import Session, list_sessions

        def rows_for(other: str | None) -> list[Any]:
            return list(self.session.diff(None if other is None else Session.load(other, self.environ)))

        others = [n for n in list_sessions(self.environ) if n != self.session.name]
        self.push_screen(DiffScreen(self.session.name, others, rows_for))

    def _focused_field(self) -> VarField | None:
        node = self.focused
        while node is not None and not isinstance(node, VarField):
            node = node.parent  # type: ignore[assignment]  # up through DOM nodes to the first VarField
        return node

    def action_reset_field(self) -> None:
        field = self._focused_field()
        if field is None:
            self.notify("focus a field first", severity="warning")
        else:
            field.action_reset()

    def action_reveal(self) -> None:
        field = self._focused_field()
        if field is not None:
            field.action_reveal()

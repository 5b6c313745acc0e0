"""SettingsPane: one of the five settings panes, generated from the registry.

Why generated: the registry is the one list of variables (design.md, "One source of
truth"); this pane walks ``by_pane(pane)`` and asks each entry to draw itself as a
:class:`VarField`, with a sub-heading wherever the entry's ``group`` changes.  With an sglang
release in force (``tui.upstream_registry``) its variables follow the spec's under their own
headings, and a spec variable that release never reads says so in its head.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import AwaitMount
from textual.widgets import Label

from backend.envs import EnvError, Pane, Problem, Resolved, by_pane
from tui.messages import SessionChanged
from tui.session import Session
from tui.upstream_registry import not_read_note
from tui.widgets.var_field import VarField


class SettingsPane(VerticalScroll, can_focus=False):
    """The fields of one pane; edits go into the session, problems come back under the fields.

    Not a focus stop itself: Tab from the pane tabs lands on the first field, and the pane
    scrolls to whichever field has focus."""

    DEFAULT_CSS = """
    SettingsPane {
        height: 1fr;
        padding: 0 1;
        & > .group { width: 1fr; margin-bottom: 1; }
        & > .pane-empty { width: 1fr; }
    }
    """

    def __init__(self, pane: Pane, session: Session, host_platforms: frozenset[str], *, eager: int = 0,
                 **kwargs: Any) -> None:
        """Args:
            pane: which registry pane to show.
            session: the :class:`tui.session.Session` edited here (shared with the app).
            host_platforms: platforms present on this host (fields of absent ones are marked).
            eager: how many widgets (fields and group headings) to compose with the pane: the
                pane visible at start composes the ones that fit on the first screen, and
                :meth:`ensure_loaded` mounts the rest just after the first frame.
        """
        super().__init__(id=f"pane-{pane.name.lower()}", classes="settings-pane", **kwargs)
        self.pane = pane
        self.session = session
        self.host_platforms = host_platforms
        self._eager = eager
        self._rest: list[Label | VarField] | None = None
        """The widgets still to mount (None: not made yet)."""

    def compose(self) -> ComposeResult:
        """Only the first ``eager`` widgets: styling ~50 fields per pane is the bulk of start-up
        time, so a hidden pane builds its fields the first time it is shown."""
        if self._eager:
            made = list(self._make_fields(light=self._eager))
            self._rest = made[self._eager :]
            yield from made[: self._eager]

    @property
    def loaded(self) -> bool:
        return self._rest == []

    def ensure_loaded(self) -> AwaitMount | None:
        """Mount the fields not composed yet; returns the mount to await, or None when all are there."""
        rest = list(self._make_fields()) if self._rest is None else self._rest
        self._rest = []
        return self.mount_all(rest) if rest else None

    async def complete_fields(self) -> None:
        """The first frame's fields get their real pickers (``VarField.light_select``)."""
        for field in self.fields:
            await field.complete()

    def _make_fields(self, light: int = 0) -> Iterable[Label | VarField]:
        """Every widget of the pane; the first ``light`` ones with look-alike pickers (``VarField``)."""
        resolved: dict[str, Resolved] = self.session.resolved()
        group = ""
        made = 0
        for var in by_pane(self.pane):
            if var.group and var.group != group:
                group = var.group
                made += 1
                yield Label(group, classes="group")
            present = not var.platforms or bool(self.host_platforms.intersection(var.platforms))
            made += 1
            yield VarField(var, self.session.values.get(var.name),
                           present=present, inherited=_inherited(var.name, resolved),
                           runtime_note=not_read_note(var) or "", light_select=made <= light)

    @property
    def fields(self) -> list[VarField]:
        return list(self.query(VarField))

    def on_var_field_changed(self, event: VarField.Changed) -> None:
        """Store a valid edit in the session; an invalid one stays on screen with its message."""
        event.stop()
        if event.error is None:
            try:
                if event.raw is None:
                    self.session.unset(event.name)
                else:
                    self.session.set(event.name, event.raw)
            except EnvError as exc:  # the session's own rules (e.g. unknown name) have the last word
                event.control.error = str(exc)
                event.control._show_state()
        self.post_message(SessionChanged(event.name))

    def sync(self, resolved: Mapping[str, Resolved], problems: Iterable[Problem], reload_values: bool) -> None:
        """Show the session's inherited values and problems on the fields.

        Args:
            resolved: the session's effective values.
            problems: the session's checks; each is shown under the fields it names.
            reload_values: also put the session's values into the editors (after a load or
                reset); not after a single edit, so ``0.24`` typed over a default stays typed.
        """
        by_name: dict[str, list[str]] = {}
        for problem in problems:
            for name in problem.names:
                by_name.setdefault(name, []).append(problem.line())
        values = self.session.values
        for field in self.fields:
            name = field.var.name
            if reload_values:
                field.error = None
                field.raw = values.get(name)
                field.watch_raw()
            field.inherited = _inherited(name, resolved)
            field.set_warning("\n".join(m for m in by_name.get(name, []) if not field.error))


def _inherited(name: str, resolved: Mapping[str, Resolved]) -> str:
    var = resolved[name].var
    if not var.inherits_from:
        return ""
    return resolved[var.inherits_from].shown()

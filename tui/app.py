"""ConsoleApp: the wiring of the console — layout, bindings, command palette, data flow.

Why "wiring only": every piece is small and tested alone (panes, views, session, the run
engine, watcher); this module connects them.  The run engine (``tui.engine``, shared with
``sgl-console run``) posts its events as :class:`~tui.messages.RunEvent` messages from its
own thread, already batched per frame, so output never arrives at the screen line by line
(stack notes: the ``Log.write_line`` trap) and nothing here polls.

Global actions use F-keys and ctrl keys with ``priority=True``: the first Input of a
pane has focus and would otherwise swallow printable-key bindings.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import Iterable, Mapping
from types import SimpleNamespace
from typing import Any

from textual import work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import ContentSwitcher

from backend import envs
from backend.envs import ATTENTION_BACKEND, ATTENTION_CONFIG, Pane
from tui.command_palette import VIEWS, console_commands
from tui.messages import SessionChanged
from tui.run_wiring import RunningApp
from tui.screens.settings_pane import SettingsPane
from tui.session_actions import SessionActions
from tui.widgets.console_footer import ConsoleFooter
from tui.widgets.nav_bar import NavBar, Section
from tui.widgets.run_bar import RunBar
from tui.widgets.session_header import SessionHeader
from tui.widgets.var_field import VarField


def few_colours(environ: Mapping[str, str]) -> bool:
    """True on a 16-colour terminal (no truecolor, no 256 colours): use the terminal's own palette."""
    if environ.get("COLORTERM", "").lower() in ("truecolor", "24bit"):
        return False
    term = environ.get("TERM", "")
    return bool(term) and "256" not in term and "direct" not in term and not environ.get("TEXTUAL_COLOR_SYSTEM")


FIRST_SCREEN_FIELDS = 4
"""Widgets of the first pane composed with the first frame (what fits at 80x24: three fields and the
fourth's name); the rest follow right after."""

SECTIONS = (Section("settings", "Settings", tuple((p.name.lower(), p.value) for p in Pane)),
            Section("live", "Live", VIEWS))
"""What the bar offers: the registry's panes, then the live views."""

class ConsoleApp(SessionActions, RunningApp):
    """The console.  Built by :func:`tui.__main__.make_app` (the one factory, shared with tests)."""

    CSS_PATH = "app.tcss"
    DEFAULT_CSS = """
    #sections, #sections > ContentSwitcher { height: 1fr; }
    """
    TITLE = "sgl-console"
    BINDINGS = [
        Binding("f2", "settings", "Settings", priority=True, tooltip="Settings panes (again: next pane)"),
        Binding("f3", "live", "Live", priority=True, tooltip="Live views (again: next view)"),
        Binding("f4", "focus_run_bar", "Run bar", priority=True, show=False),
        Binding("f5", "run", "Run", priority=True),
        Binding("f6", "stop", "Stop", priority=True),
        Binding("f7", "restart", "Restart", priority=True, show=False),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("f8", "save_as", "Save as", priority=True, show=False),
        Binding("ctrl+o", "load", "Load", priority=True, show=False),
        Binding("f9", "diff", "Diff", priority=True),
        Binding("f10", "crash_report", "Crash", priority=True, show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(
        self,
        session_name: str | None = None,
        command: list[str] | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        host_platforms: frozenset[str] | None = None,
        half_block: bool = False,
        stall_timeout: float | None = 30.0,
        watch_config: bool = True,
        stop_policy: Any = None,
        theme: str | None = None,
    ) -> None:
        """Args:
            session_name: session to open (``default`` when None); created if missing.
            command: the command line to launch instead of our backend.
            environ: the console's environment (``os.environ`` when None); feeds the session's
                defaults, the child's inherited environment, and where sessions and logs live.
            host_platforms: platforms present (detected when None).
            half_block: force half-block image previews (tests, screenshots).
            stall_timeout: seconds with no output and no CPU before a run counts as stalled.
            watch_config: watch the attention config file for hot reload.
            stop_policy: the stop escalation's timeouts (``tui.supervisor.StopPolicy``).
            theme: a Textual theme; None picks ``$SGL_CONSOLE_THEME``, else ``ansi-dark`` on a
                16-colour terminal (the terminal's own palette), else Textual's default.
        """
        super().__init__()
        from backend.platforms import detect_host_platforms
        from tui.session import Session

        self.environ: dict[str, str] = dict(os.environ if environ is None else environ)
        self.host_platforms = detect_host_platforms() if host_platforms is None else host_platforms
        self.session = Session.open(session_name or "default", self.environ)
        self.command = command
        self.half_block = half_block
        self.stall_timeout = stall_timeout
        self.watch_config = watch_config
        self.stop_policy = stop_policy
        self.ready_at: float | None = None
        """``time.time()`` when the first frame was up and keys were answered (benchmarks)."""
        self.pane_ready_at: float | None = None
        """``time.time()`` when the first settings pane's fields were on screen too."""
        self._engine: Any = None
        self._last_plan: Any = None
        self._last_request: dict[str, Any] | None = None
        self._last_exit: Any = None
        self._crash: tuple[str, str] | None = None
        self._watched_config: str | None = None
        self._views: Any = None
        if "TEXTUAL_ANIMATIONS" not in self.environ:
            # A console watching a run spends no CPU on animations (each tab switch animated its
            # underline for 0.3 s, about 18 extra frames); TEXTUAL_ANIMATIONS=full brings them back.
            self.animation_level = "none"
        theme = theme or os.environ.get("SGL_CONSOLE_THEME") or ("ansi-dark" if few_colours(os.environ) else "")
        if theme in self.available_themes:
            self.theme = theme

    # ---- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield SessionHeader(id="session-header")
        yield NavBar(SECTIONS, id="nav")
        with ContentSwitcher(id="sections", initial="settings"):
            with ContentSwitcher(id="settings", initial=f"pane-{SECTIONS[0].items[0][0]}"):
                for i, pane in enumerate(Pane):
                    yield SettingsPane(pane, self.session, self.host_platforms, eager=FIRST_SCREEN_FIELDS if i == 0 else 0)
            yield ContentSwitcher(id="live")  # its views are composed on first show
        yield RunBar(command=self.command, id="run-bar")
        yield ConsoleFooter()

    async def on_mount(self) -> None:
        self._refresh_session(reload_values=False)
        self._catch_stop_signals()
        self.call_after_refresh(self._first_frame)

    async def _load_pane(self, name: str) -> None:
        """Build a settings pane's fields the first time it is shown (keeps start-up fast)."""
        pane = self._main_query(f"#pane-{name}", SettingsPane)
        mounting = pane.ensure_loaded()
        if mounting is not None:  # a pane already shown is in sync: switching back costs no sync
            await mounting
            await pane.complete_fields()
            self._refresh_session(reload_values=False)

    async def _first_frame(self) -> None:
        """After the first frame (header, tabs, the first pane's fields, run bar, footer: keys
        already work).  Every other pane and view is composed when first shown."""
        self.ready_at = time.time()
        await self._load_pane(self.nav.active["settings"])
        self.pane_ready_at = time.time()
        _ = self.views  # made now unless a key already showed one (then they stay: they are mounted)
        self._start_config_watch()
        # The widgets made at start-up live as long as the app: move them out of the garbage
        # collector's way, so its full passes (tens of ms) do not stall streaming output.
        gc.collect()
        gc.freeze()

    @property
    def nav(self) -> NavBar:
        """The bar of panes and views: what is shown (``nav.section``, ``nav.active``)."""
        return self._main_query("#nav", NavBar)

    async def _show_view(self) -> None:
        """Compose the live view the bar has active the first time it is shown, and show it.  A
        view's widget object exists from the start and keeps what it was given meanwhile."""
        view = self.nav.active["live"]
        widget = getattr(self.views, view)
        switcher = self._main_query("#live", ContentSwitcher)
        if not widget.is_attached:
            widget.display = False  # shown by the switcher, like every view after it
            await switcher.mount(widget)
        if self.nav.active["live"] == view:  # still the one wanted (keys pressed meanwhile)
            switcher.current = widget.id

    @property
    def shown_view(self) -> Any:
        """The live view on screen now (composed), or None while the settings are shown."""
        if self.nav.section != "live":
            return None
        widget = getattr(self.views, self.nav.active["live"], None)
        shown = self._main_query("#live", ContentSwitcher).current
        return widget if widget is not None and widget.is_mounted and shown == widget.id else None

    def _make_views(self) -> SimpleNamespace:
        """The six live views, not mounted: cheap objects whose update methods work before they are
        composed (the engine feeds them from the first run on)."""
        from tui.widgets.attention_view import AttentionView
        from tui.widgets.image_view import ImageView
        from tui.widgets.kernel_api_view import KernelApiView
        from tui.widgets.output_view import OutputView
        from tui.widgets.process_view import ProcessView
        from tui.widgets.timings_view import TimingsView

        made = {
            "output": OutputView(save_dir=self._cache_dir("saved"), id="output-view"),
            "timings": TimingsView(id="timings-view"), "kernel": KernelApiView(id="kernel-view"),
            "process": ProcessView(id="process-view"),
            "image": ImageView(half_block=self.half_block, id="image-view"),
            "attention": AttentionView(id="attention-view"),
        }
        return SimpleNamespace(**made)

    @property
    def settled(self) -> bool:
        """True once the visible pane's fields are mounted (tests wait for it)."""
        return self.pane_ready_at is not None

    @property
    def views(self) -> Any:
        """The live views by name (``output``, ``timings``, ``kernel``, ``process``, ``image``,
        ``attention``); each is composed on its first show but takes updates from the start."""
        if self._views is None:
            self._views = self._make_views()
        return self._views

    def _cache_dir(self, *parts: str) -> str:
        return os.path.join(envs.cache_root(self.session.child_env(self.environ)), "console", *parts)

    # ---- the session -------------------------------------------------------------------------
    def invalid_fields(self) -> dict[str, str]:
        """Fields whose typed text does not parse (not stored in the session)."""
        return {f.var.name: f.error for f in self.query(VarField) if f.error}

    def _refresh_session(self, reload_values: bool) -> None:
        problems = self.session.problems(self.environ, self.host_platforms)
        resolved = self.session.resolved(self.environ)
        for pane in self.query(SettingsPane):
            pane.session = self.session
            pane.sync(resolved, problems, reload_values)
        invalid = self.invalid_fields()
        header = self._main_query(SessionHeader)
        header.name_text = self.session.name
        header.dirty = bool(self.session.dirty)
        header.errors = sum(1 for p in problems if p.is_error) + len(
            [n for n in invalid if not any(n in p.names for p in problems)])
        header.warnings = sum(1 for p in problems if not p.is_error)

    def on_session_changed(self, event: SessionChanged) -> None:
        self._refresh_session(reload_values=event.name is None)
        if event.name in (None, ATTENTION_CONFIG.name, ATTENTION_BACKEND.name):
            self._start_config_watch()

    # ---- navigation --------------------------------------------------------------------------
    def _go(self, section: str, item: str | None = None) -> None:
        """Show ``item`` of ``section`` (None: the one it had).  What exists is switched now, in
        this frame; a pane's remaining fields or a view's first composition follow."""
        nav = self.nav
        nav.select(section, item)
        if section == "settings":
            name = nav.active["settings"]
            self._main_query("#settings", ContentSwitcher).current = f"pane-{name}"
            if self.ready_at is not None:
                self.call_next(self._load_pane, name)
        else:
            self.call_next(self._show_view)
        self._main_query("#sections", ContentSwitcher).current = section

    def _step(self, section: str) -> None:
        """F2/F3: open ``section`` where it was; pressed again, its next item.  The bar takes the
        focus (left/right step on), in the same frame as the switch."""
        nav = self.nav
        self._go(section, nav.step(section, 1) if nav.section == section else None)
        nav.focus(scroll_visible=False)

    def action_settings(self) -> None:
        self._step("settings")

    def action_live(self) -> None:
        self._step("live")

    def on_nav_bar_selected(self, event: NavBar.Selected) -> None:
        self._go(event.section, event.item)
        self.nav.focus(scroll_visible=False)

    def action_show(self, where: str) -> None:
        """``where`` is a settings pane (``runtime`` ...) or a live view (``output`` ...)."""
        section = self.nav.section_of(where)
        if section is not None:
            self._go(section, where)

    def action_focus_run_bar(self) -> None:
        self._main_query("#prompt").focus()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """The command palette offers every action, and every pane and view."""
        yield from super().get_system_commands(screen)
        yield from console_commands(self)

    # ---- output actions (palette) ------------------------------------------------------------
    def action_save_output(self) -> None:
        if self._views is not None:
            self.views.output.action_save()

    def action_copy_output(self) -> None:
        if self._views is not None:
            self.views.output.action_copy()

    # ---- attention config hot reload ---------------------------------------------------------
    def _start_config_watch(self) -> None:
        if not self.watch_config or self._views is None:
            return
        resolved = self.session.resolved(self.environ)
        path = resolved[ATTENTION_CONFIG.name].value
        backend = resolved[ATTENTION_BACKEND.name].value
        key = f"{path}|{backend}" if path else None
        if key == self._watched_config:
            return
        self._watched_config = key
        self.views.attention.show_watching(path)
        if path and os.path.isdir(os.path.dirname(os.path.abspath(os.path.expanduser(str(path))))):
            self._watch_config(str(path), backend)
        else:
            self.workers.cancel_group(self, "config-watch")

    @work(exclusive=True, group="config-watch")
    async def _watch_config(self, path: str, backend: str | None) -> None:
        from backend.attention_watch import ConfigWatcher

        watcher = ConfigWatcher(path, backend)
        try:
            async for event in watcher.awatch():
                resident = self._engine is not None and self._engine.running
                self.views.attention.show_event(event, resident)
        finally:
            watcher.stop()

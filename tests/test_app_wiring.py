"""tui/app.py + tui/run_wiring.py + tui/session_actions.py + tui/command_palette.py through a real Pilot.

The console's wiring, key by key at 80x24: F2/F3 cycle every pane and view and leave the focus on
the one-line bar (left/right and clicks move it too); a key holds the run engine's ``input_first`` gate until the frame after its answer;
the one-widget footer shows ``ctrl+r Reset field`` only while a field has the focus; ctrl+s,
save-as and load through their real screens, error paths included; the real command palette lists
every ``ACTIONS`` row and runs what is picked. What ``tests/screens/test_settings_pane.py`` (each
pane's fields, the save-as/load happy path, the palette's titles) and ``test_view_switching.py``
(memory over 1,000 switches) assert is not repeated here.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from typing import Any

from textual.command import CommandList, CommandPalette
from textual.widgets import ContentSwitcher, Input, OptionList

from backend.envs import Pane
from tests.console_helpers import pilot_wait_until
from tui.command_palette import ACTIONS, VIEWS
from tui.screens.load_screen import LoadScreen
from tui.screens.save_as_screen import SaveAsScreen
from tui.session import Session, session_path
from tui.widgets.console_footer import ConsoleFooter
from tui.widgets.nav_bar import NavBar
from tui.widgets.session_header import SessionHeader
from tui.widgets.var_field import VarField

PANES = [p.name.lower() for p in Pane]
LIVE = [name for name, _ in VIEWS]
SIZE = (80, 24)


def shown(app: Any) -> tuple[str, str]:
    """(section, item) the bar shows, checked against what the switchers show."""
    nav = app.query_one(NavBar)
    section, item = nav.section, nav.active[nav.section]
    assert app.query_one("#sections", ContentSwitcher).current == section
    if section == "settings":
        assert app.query_one("#settings", ContentSwitcher).current == f"pane-{item}"
    return section, item


def bar_focused(app: Any) -> bool:
    return isinstance(app.focused, NavBar)


def notices(app: Any) -> list[tuple[str, str]]:
    """Record every notification (message, severity) the app raises from now on; the real
    ``notify`` still runs."""
    seen: list[tuple[str, str]] = []
    real = app.notify

    def notify(message: str, *args: Any, **kwargs: Any) -> None:
        seen.append((message, kwargs.get("severity", "information")))
        real(message, *args, **kwargs)

    app.notify = notify
    return seen


def footer_text(app: Any) -> str:
    return str(app.query_one(ConsoleFooter).render())


# ---- navigation ------------------------------------------------------------------------------------


async def test_f2_cycles_every_pane_and_wraps_with_the_focus_on_the_bar(console: Callable[..., Any]) -> None:
    app = console(watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        assert shown(app) == ("settings", PANES[0])
        seen = []
        for _ in PANES:
            await pilot.press("f2")
            await pilot_wait_until(pilot, lambda: bar_focused(app), describe=lambda: app.focused)
            seen.append(shown(app)[1])
        assert seen == PANES[1:] + PANES[:1]  # first F2 on the settings: the next pane; then round again
        await pilot.press("f3", "f2")  # from the live views F2 comes back to the pane that was shown
        await pilot_wait_until(pilot, lambda: shown(app)[0] == "settings")
        assert shown(app) == ("settings", PANES[0]) and bar_focused(app)


async def test_f3_composes_each_view_on_first_show_then_cycles_every_view(console: Callable[..., Any]) -> None:
    app = console(watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        assert not app.query_one("#live", ContentSwitcher).children and app.shown_view is None
        await pilot.press("f3")
        await pilot_wait_until(pilot, lambda: app.shown_view is not None and bar_focused(app),
                               describe=lambda: app.focused)
        assert shown(app) == ("live", LIVE[0]) and app.shown_view is app.views.output
        assert len(app.query_one("#live", ContentSwitcher).children) == 1  # the others not yet composed
        seen = []
        for _ in LIVE:
            await pilot.press("f3")
            await pilot_wait_until(pilot, lambda: app.shown_view is not None and bar_focused(app))
            seen.append(shown(app)[1])
        assert seen == LIVE[1:] + LIVE[:1]
        assert app.shown_view is getattr(app.views, LIVE[0])
        assert [w.display for w in app.query_one("#live", ContentSwitcher).children].count(True) == 1


async def test_f3_twice_before_the_first_view_is_composed_opens_the_second_view(console: Callable[..., Any]) -> None:
    app = console(watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        app.action_live()
        app.action_live()  # again, before the first view was composed
        await pilot_wait_until(pilot, lambda: app.shown_view is not None)
        assert shown(app) == ("live", LIVE[1]) and app.shown_view is app.views.timings


async def test_a_view_shown_before_the_first_pane_is_complete_stays_the_one_mounted(console: Callable[..., Any]) -> None:
    """F3 right after the first frame, while the first pane's other fields are still being built:
    the views made for it are the ones kept (the start-up step once replaced them, and the next F3
    mounted a second Output view: DuplicateIds, the console died)."""
    app = console(watch_config=False)
    async with type(app).run_test(app, size=SIZE) as pilot:  # Textual's own: no wait for the first pane
        assert not app.settled
        views = app.views
        app.action_live()
        await pilot_wait_until(pilot, lambda: app.settled and app.shown_view is not None)
        assert app.views is views and app.shown_view is views.output
        await pilot.press("f2", "f3")
        await pilot_wait_until(pilot, lambda: app.shown_view is views.output)
        assert len(app.query_one("#live", ContentSwitcher).children) == 1


async def test_left_and_right_on_the_bar_step_through_the_section(console: Callable[..., Any]) -> None:
    app = console(watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3")
        await pilot_wait_until(pilot, lambda: app.shown_view is app.views.output and bar_focused(app))
        await pilot.press("right", "right")
        await pilot_wait_until(pilot, lambda: app.shown_view is app.views.kernel)
        await pilot.press("left", "left", "left")  # wraps round to the last view
        await pilot_wait_until(pilot, lambda: app.shown_view is getattr(app.views, LIVE[-1]))
        assert shown(app) == ("live", LIVE[-1])


async def test_a_click_on_a_label_shows_it(console: Callable[..., Any]) -> None:
    app = console(watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        bar = app.query_one(NavBar)
        text = str(bar.render())
        await pilot.click(NavBar, offset=(text.index("Storage") + 1, 0))
        await pilot_wait_until(pilot, lambda: shown(app) == ("settings", "storage"), describe=lambda: shown(app))
        await pilot.click(NavBar, offset=(text.index("Live") + 1, 0))
        await pilot_wait_until(pilot, lambda: app.shown_view is app.views.output, describe=lambda: shown(app))
        text = str(bar.render())
        await pilot.click(NavBar, offset=(text.index("Kernel API") + 1, 0))
        await pilot_wait_until(pilot, lambda: app.shown_view is app.views.kernel, describe=lambda: shown(app))
        await pilot.click(NavBar, offset=(text.index("Settings") + 1, 0))  # back where it was
        await pilot_wait_until(pilot, lambda: shown(app) == ("settings", "storage"), describe=lambda: shown(app))


async def test_show_names_a_pane_or_a_view(console: Callable[..., Any]) -> None:
    app = console(watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        app.action_show("kernel")
        await pilot_wait_until(pilot, lambda: app.shown_view is not None)
        assert shown(app) == ("live", "kernel") and app.shown_view is app.views.kernel
        app.action_show("storage")
        await pilot_wait_until(pilot, lambda: shown(app)[0] == "settings")
        assert shown(app) == ("settings", "storage") and app.shown_view is None
        app.action_show("no-such-view")  # an unknown name (a stale palette entry): nothing moves
        await pilot.pause()
        assert shown(app) == ("settings", "storage")


# ---- the input-first gate --------------------------------------------------------------------------


async def test_a_key_holds_the_engines_gate_until_the_frame_after_its_answer(console: Callable[..., Any]) -> None:
    app = console(watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f3", "f2")
        assert app._engine is None  # keys alone never build the engine: start-up stays light
        gate = app.engine.input_first
        gate.max_hold = 3600.0  # only a release can open it within the test
        holds = gate.holds
        during: list[bool] = []
        released: list[tuple[str, bool]] = []
        real_live, real_release = app.action_live, gate.release

        def live() -> None:  # the key's action runs with the gate closed
            during.append(gate.held)
            real_live()

        def release() -> None:  # and the gate opens once the answer is on screen
            released.append((shown(app)[0], gate.held))
            real_release()

        app.action_live, gate.release = live, release
        await pilot.press("f3")
        assert gate.holds == holds + 1
        await pilot_wait_until(pilot, lambda: released, describe=lambda: gate.holds)
        assert during == [True] and released == [("live", True)] and not gate.held
        await pilot.press("f2", "f3", "f2")
        assert gate.holds == holds + 4
        await pilot_wait_until(pilot, lambda: len(released) == 4 and not gate.held, describe=lambda: released)
        assert during == [True, True]


# ---- the footer ------------------------------------------------------------------------------------


async def test_footer_shows_reset_field_only_while_a_field_has_the_focus(console: Callable[..., Any]) -> None:
    app = console(watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        footer = app.query_one(ConsoleFooter)

        def reset_shown() -> bool:
            entries, _ = footer.shown_keys()
            return any(e.key == "ctrl+r" and e.description == "Reset field" for e in entries)

        app.query(VarField).first().editor.focus()
        await pilot_wait_until(pilot, lambda: "^r Reset field" in footer_text(app), describe=lambda: footer_text(app))
        assert reset_shown()
        await pilot.press("f2")  # the bar takes the focus
        await pilot_wait_until(pilot, lambda: "Reset field" not in footer_text(app), describe=lambda: footer_text(app))
        assert not reset_shown() and "Settings" in footer_text(app)
        await pilot.press("f4")  # the run bar: not a field either
        await pilot_wait_until(pilot, lambda: isinstance(app.focused, Input))
        assert not reset_shown()
        app.query(VarField).last().editor.focus()
        await pilot_wait_until(pilot, reset_shown)


async def test_ctrl_r_resets_the_focused_field_and_asks_for_a_field_otherwise(console: Callable[..., Any]) -> None:
    app = console(watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        said = notices(app)
        app.action_reset_field()
        assert said == [("focus a field first", "warning")]
        field = app.query_one("#field-SGLANG_DIFFUSION_TORCH_PROFILER_DIR", VarField)
        field.editor.focus()
        await pilot.press(*"/tmp/prof")
        await pilot_wait_until(pilot, lambda: app.session.values.get(field.var.name) == "/tmp/prof")
        await pilot.press("ctrl+r")
        await pilot_wait_until(pilot, lambda: field.var.name not in app.session.values)
        assert field.raw is None


# ---- the session's actions -------------------------------------------------------------------------


async def test_ctrl_s_writes_a_private_file_and_says_so(console: Callable[..., Any], ui_env: dict[str, str]) -> None:
    app = console(session="ops", watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        said = notices(app)
        path = session_path("ops", ui_env)
        app.session.set("SGLANG_CACHE_DIT_WARMUP", "6")
        await pilot.press("ctrl+s")
        await pilot_wait_until(pilot, lambda: path.exists() and not app.query_one(SessionHeader).dirty)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert said == [("saved session 'ops' (ops.env)", "information")]
        assert Session.load("ops", ui_env).values["SGLANG_CACHE_DIT_WARMUP"] == "6"


async def test_a_save_that_cannot_write_is_an_error_notice_and_stays_unsaved(
        console: Callable[..., Any], ui_env: dict[str, str]) -> None:
    app = console(session="ops", watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        said = notices(app)
        path = session_path("ops", ui_env)
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        path.parent.write_text("a file where the sessions folder goes\n")
        app.query_one("#field-SGLANG_DIFFUSION_TORCH_PROFILER_DIR", VarField).editor.focus()
        await pilot.press(*"/tmp/prof")
        await pilot_wait_until(pilot, lambda: app.query_one(SessionHeader).dirty)
        await pilot.press("ctrl+s")
        await pilot_wait_until(pilot, lambda: said)
        ((message, severity),) = said
        assert severity == "error" and message.startswith("cannot save session 'ops' to ") and str(path) in message
        assert app.query_one(SessionHeader).dirty and app.session.dirty


async def test_save_as_screen_refuses_a_bad_name_then_saves_a_private_file(
        console: Callable[..., Any], ui_env: dict[str, str]) -> None:
    app = console(session="first", watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        app.session.set("SGLANG_CACHE_DIT_WARMUP", "6")
        await pilot.press("f8")
        await pilot_wait_until(pilot, lambda: isinstance(app.screen, SaveAsScreen))
        await pilot.press("ctrl+u", *"../evil", "enter")
        await pilot.pause()
        assert isinstance(app.screen, SaveAsScreen), "a bad name keeps the dialog open"
        assert str(app.screen.query_one(".message").render())  # and says why
        assert app.session.name == "first" and not session_path("first", ui_env).exists()
        await pilot.press("ctrl+u", *"second", "enter")
        await pilot_wait_until(pilot, lambda: app.query_one(SessionHeader).name_text == "second")
        assert stat.S_IMODE(session_path("second", ui_env).stat().st_mode) == 0o600
        await pilot.press("f8")
        await pilot_wait_until(pilot, lambda: isinstance(app.screen, SaveAsScreen))
        await pilot.press("escape")
        await pilot_wait_until(pilot, lambda: not isinstance(app.screen, SaveAsScreen))
        assert app.session.name == "second" and not session_path("first", ui_env).exists()


async def test_load_of_a_session_removed_meanwhile_is_an_error_and_keeps_the_current_one(
        console: Callable[..., Any], ui_env: dict[str, str]) -> None:
    Session.new("gone", ui_env).save()
    app = console(session="here", watch_config=False)
    async with app.run_test(size=SIZE) as pilot:
        said = notices(app)
        await pilot.press("ctrl+o")
        await pilot_wait_until(pilot, lambda: isinstance(app.screen, LoadScreen))
        assert app.screen.names == ["gone"]
        session_path("gone", ui_env).unlink()  # another terminal deleted it while the list was open
        await pilot.press("enter")
        await pilot_wait_until(pilot, lambda: said)
        ((message, severity),) = said
        assert severity == "error" and message.startswith("no session named 'gone'")
        assert app.session.name == "here" and app.query_one(SessionHeader).name_text == "here"
        await pilot.press("ctrl+o")
        await pilot_wait_until(pilot, lambda: isinstance(app.screen, LoadScreen))
        assert app.screen.names == [] and app.screen.query_one(OptionList).option_count == 0
        await pilot.press("escape")
        await pilot_wait_until(pilot, lambda: not isinstance(app.screen, LoadScreen))
        assert app.session.name == "here"


# ---- the command palette ---------------------------------------------------------------------------


def test_every_actions_row_names_an_action_of_the_app() -> None:
    from tui.app import ConsoleApp

    missing = [a for a, _, _ in ACTIONS if not callable(getattr(ConsoleApp, f"action_{a.split('(')[0]}", None))]
    assert missing == []


async def test_the_real_palette_lists_every_action_and_runs_the_pick(console: Callable[..., Any]) -> None:
    app = console(watch_config=False)
    async with app.run_test(size=(120, 60)) as pilot:
        await pilot.press("ctrl+p")
        await pilot_wait_until(pilot, lambda: isinstance(app.screen, CommandPalette))
        results = app.screen.query_one(CommandList)

        def listed() -> set[str]:
            return {str(results.get_option_at_index(i).prompt).split("\n")[0] for i in range(results.option_count)}

        titles = {t for _, t, _ in ACTIONS}
        await pilot_wait_until(pilot, lambda: titles <= listed(), describe=lambda: sorted(titles - listed()))
        await pilot.press("ctrl+u", *"Show view Timings")
        await pilot_wait_until(pilot, lambda: results.option_count >= 1)
        await pilot.press("down", "enter")
        await pilot_wait_until(pilot, lambda: app.shown_view is not None)
        assert app.shown_view is app.views.timings

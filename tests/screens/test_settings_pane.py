"""Every settings pane through the whole console: set a field, see validation, save, reload, diff.

Also: the header's unsaved marker and counts, save as / load, the run refusal that names
the failing variable, and the command palette's list of actions.
"""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import DataTable, Input, Switch

from backend.envs import REGISTRY, STRICT_VAR, Pane, by_pane
from tui.screens.diff_screen import DiffScreen
from tui.screens.settings_pane import SettingsPane
from tui.session import Session
from tui.widgets.session_header import SessionHeader
from tui.widgets.var_field import VarField

CASES = [
    # pane, variable, invalid text (or None for a switch), valid text, expected message part
    (Pane.RUNTIME, "SGLANG_DIFFUSION_TORCH_PROFILER_DIR", "rel/dir", "/tmp/prof", "relative path"),
    (Pane.PLATFORM, "SGLANG_USE_ROCM_VAE", None, "true", "no effect here"),
    (Pane.CACHING, "SGLANG_CACHE_DIT_RDT", "-1", "0.12", "must be > 0"),
    (Pane.STORAGE, "SGLANG_S3_BUCKET_NAME", "A_B", "my-bucket", "S3 bucket name"),
    (Pane.DEBUG, "SGLANG_KERNEL_API_DUMP_INCLUDE", "a,,b", "backend.attention.*", "empty pattern"),
]


@pytest.fixture(autouse=True)
def strict(ui_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """These cases are the strict refusals (``--strict``); the upstream reading is tested in test_envs_upstream."""
    ui_env[STRICT_VAR] = "1"
    monkeypatch.setenv(STRICT_VAR, "1")


def field(app: Any, name: str) -> VarField:
    return app.query_one(f"#field-{name}", VarField)


async def type_into(pilot: Any, target: VarField, text: str) -> None:
    """Type ``text`` over the field's editor; the editor must hold it after (says where keys went if not)."""
    await pilot.press("ctrl+u", *list(text))
    await pilot.pause()
    assert target.editor.value == text, (f"typed {text!r}, the editor holds {target.editor.value!r}; "
                                         f"focus: {pilot.app.focused!r}; field classes: {target.classes}")


@pytest.mark.parametrize("pane,name,bad,good,message", CASES, ids=[c[0].value for c in CASES])
async def test_pane_set_validate_save_reload_diff(console: Any, ui_env: dict[str, str], pane: Pane, name: str,
                                                  bad: str | None, good: str, message: str) -> None:
    app = console(session="ops")
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_show(pane.name.lower())
        await pilot.pause()
        names = [f.var.name for f in app.query_one(f"#pane-{pane.name.lower()}", SettingsPane).fields]
        assert names == [v.name for v in by_pane(pane)], "the pane is generated from the registry, in order"
        target = field(app, name)
        target.editor.focus()
        await pilot.pause()
        assert target.editor.has_focus, f"focus is on {app.focused!r}"
        if bad is not None:
            await type_into(pilot, target, bad)
            assert target.has_class("-invalid") and message in str(target.query_one(".message").render())
            assert app.session.values.get(name) != bad, "text that does not parse is never stored"
            assert app.query_one(SessionHeader).errors >= 1
            await type_into(pilot, target, good)
            assert not target.has_class("-invalid")
        else:
            assert isinstance(target.editor, Switch)
            await pilot.press("space")
            await pilot.pause()
            assert message in str(target.query_one(".message").render())
        assert app.session.values[name] == good
        assert app.query_one(SessionHeader).dirty
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not app.query_one(SessionHeader).dirty
        assert Session.load("ops", ui_env).values[name] == good
        await pilot.press("f9")
        await pilot.pause()
        assert isinstance(app.screen, DiffScreen)
        table = app.screen.query_one(DataTable)
        assert name in [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        await pilot.press("escape")


async def test_secondary_cache_fields_follow_the_primary_until_overridden(console: Any) -> None:
    app = console()
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_show("caching")
        await pilot.pause()
        secondary = field(app, "SGLANG_CACHE_DIT_SECONDARY_RDT")
        assert secondary.has_class("-inherited") and "0.24" in secondary.editor.placeholder
        field(app, "SGLANG_CACHE_DIT_RDT").editor.focus()
        await type_into(pilot, field(app, "SGLANG_CACHE_DIT_RDT"), "0.12")
        assert secondary.has_class("-inherited") and "0.12" in secondary.editor.placeholder


async def test_save_as_then_load_switches_the_session(console: Any, ui_env: dict[str, str]) -> None:
    app = console(session="first")
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_show("caching")
        await pilot.pause()
        field(app, "SGLANG_CACHE_DIT_WARMUP").editor.focus()
        await type_into(pilot, field(app, "SGLANG_CACHE_DIT_WARMUP"), "6")
        await pilot.press("f8")
        await pilot.pause()
        await pilot.press("ctrl+u", *"second", "enter")
        await pilot.pause()
        assert app.session.name == "second" and app.query_one(SessionHeader).name_text == "second"
        assert Session.load("second", ui_env).values["SGLANG_CACHE_DIT_WARMUP"] == "6"
        Session.new("third", ui_env).save()
        await pilot.press("ctrl+o")
        await pilot.pause()
        names = app.screen.names
        await pilot.press(*["down"] * names.index("third"), "enter")
        await pilot.pause()
        assert app.session.name == "third"
        assert field(app, "SGLANG_CACHE_DIT_WARMUP").raw is None, "values of the loaded session are shown"


async def test_run_refuses_while_the_session_has_errors_and_says_which(console: Any) -> None:
    app = console()
    async with app.run_test(size=(80, 24)) as pilot:
        app.action_show("storage")
        await pilot.pause()
        storage = field(app, "SGLANG_CLOUD_STORAGE_TYPE")
        storage.editor.value = "s3"
        await pilot.pause()
        assert app.query_one(SessionHeader).errors == 1
        await pilot.press("f5")
        await pilot.pause()
        status = str(app.query_one("#run-status").render())
        assert "refused" in status and "SGLANG_S3_BUCKET_NAME" in status
        assert app._engine is None, "nothing was started"


async def test_global_keys_work_while_an_input_has_focus(console: Any) -> None:
    app = console()
    async with app.run_test(size=(80, 24)) as pilot:
        field(app, "SGLANG_DIFFUSION_TORCH_PROFILER_DIR").editor.focus()
        await pilot.press("f3")
        await pilot.pause()
        assert app.nav.section == "live"
        await pilot.press("f2")
        await pilot.pause()
        assert app.nav.section == "settings"
        await pilot.press("f2")
        await pilot.pause()
        assert app.nav.active["settings"] == "platform"


async def test_command_palette_offers_every_action_and_pane(console: Any) -> None:
    from tui.command_palette import ACTIONS, VIEWS

    app = console()
    async with app.run_test(size=(80, 24)):
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {title for _, title, _ in ACTIONS} <= titles
        assert {f"Show pane {p.value}" for p in Pane} | {f"Show view {label}" for _, label in VIEWS} <= titles
        bound = {b.action for b in app.BINDINGS}
        offered = {a.split("(")[0] for a, _, _ in ACTIONS}
        assert bound - {"settings", "live"} <= offered


def test_no_second_list_of_variables() -> None:
    """The panes take their variables from the registry only: every variable is in one pane."""
    assert sum(len(by_pane(p)) for p in Pane) == len(REGISTRY)


async def test_preview_shows_the_sglang_translation_before_running(console: Any) -> None:
    app = console(command=["sglang", "generate", "--model-path", "m"])
    async with app.run_test(size=(80, 24)) as pilot:
        app.session.set("SGLANG_DIFFUSION_LOGGING_LEVEL", "DEBUG")
        app.query_one("#command", Input).focus()
        await pilot.press("enter")
        await pilot.pause()
        status = str(app.query_one("#run-status").render())
        assert "would run: $" in status and "--log-level debug" in status
        app.query_one("#translate").value = False
        await pilot.press("enter")
        await pilot.pause()
        assert "--log-level" not in str(app.query_one("#run-status").render())
        assert app._engine is None

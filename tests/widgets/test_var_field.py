"""VarField: the editor per kind, validation as you type, inherited values, secrets, reset, platforms."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, Select, Switch

from backend.envs import REGISTRY
from tui.widgets.var_field import VarField

EDITORS = {"switch": Switch, "select": Select, "number": Input, "path": Input, "input": Input}


class FieldApp(App[None]):
    def __init__(self, name: str, raw: str | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.field = VarField(REGISTRY[name], raw, **kwargs)
        self.changes: list[VarField.Changed] = []

    def compose(self) -> ComposeResult:
        yield self.field

    def on_var_field_changed(self, event: VarField.Changed) -> None:
        self.changes.append(event)


@pytest.mark.parametrize("name", list(REGISTRY))
async def test_every_variable_gets_the_editor_of_its_kind(name: str) -> None:
    var = REGISTRY[name]
    app = FieldApp(name)
    async with app.run_test(size=(80, 8)):
        expected = EDITORS[var.kind.widget]
        if getattr(var.kind, "choices", ()) and var.kind.widget == "number":
            expected = Select  # an integer with fixed choices (kernel API level) is picked, not typed
        assert isinstance(app.field.editor, expected)
        head = str(app.field.query_one(".head").render())
        assert head.startswith(name) and f"default: {var.describe_default()}"[:30] in head, "cut to the width"
        assert var.doc[:30] in head


async def test_validation_message_appears_under_the_field_as_you_type() -> None:
    app = FieldApp("SGLANG_CACHE_DIT_RDT")
    async with app.run_test(size=(80, 8)) as pilot:
        app.field.editor.focus()
        await pilot.press("a", "b", "c")
        await pilot.pause()
        assert app.field.has_class("-invalid")
        message = str(app.field.query_one(".message").render())
        assert "SGLANG_CACHE_DIT_RDT='abc' is not valid" in message
        assert app.changes[-1].error is not None and app.changes[-1].raw == "abc"
        await pilot.press("ctrl+u", "0", ".", "1")
        await pilot.pause()
        assert not app.field.has_class("-invalid")
        assert app.changes[-1].raw == "0.1" and app.changes[-1].error is None


async def test_secondary_field_shows_the_inherited_value_greyed_until_overridden() -> None:
    app = FieldApp("SGLANG_CACHE_DIT_SECONDARY_RDT", inherited="0.12")
    async with app.run_test(size=(80, 8)) as pilot:
        editor = app.field.editor
        assert isinstance(editor, Input)
        assert app.field.has_class("-inherited") and "0.12" in editor.placeholder
        editor.focus()
        await pilot.press("0", ".", "3")
        await pilot.pause()
        assert not app.field.has_class("-inherited")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert app.field.has_class("-inherited") and editor.value == ""
        assert app.changes[-1].raw is None


async def test_secret_is_masked_and_revealed_only_on_the_explicit_key() -> None:
    app = FieldApp("SGLANG_S3_SECRET_ACCESS_KEY", "s3cr3t-value")
    async with app.run_test(size=(80, 8)) as pilot:
        editor = app.field.editor
        assert isinstance(editor, Input) and editor.password
        editor.focus()
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not editor.password
        await pilot.press("ctrl+g")
        assert editor.password


async def test_endpoint_url_with_a_password_is_hidden_until_revealed() -> None:
    """A URL is no secret variable, but its userinfo is: typed or loaded, the field shows dots."""
    app = FieldApp("SGLANG_S3_ENDPOINT_URL", "http://127.0.0.1:9000")
    async with app.run_test(size=(80, 8)) as pilot:
        editor = app.field.editor
        assert isinstance(editor, Input) and not editor.password
        editor.focus()
        editor.value = "http://op:pw-1@127.0.0.1:9000"
        await pilot.pause()
        assert editor.password and app.changes[-1].raw == "http://op:pw-1@127.0.0.1:9000"
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert not editor.password
        await pilot.press("ctrl+g")
        await pilot.pause()
        assert editor.password
    loaded = FieldApp("SGLANG_S3_ENDPOINT_URL", "http://op:pw-1@127.0.0.1:9000")
    async with loaded.run_test(size=(80, 8)):
        assert loaded.field.editor.password


async def test_platform_field_of_an_absent_platform_says_no_effect() -> None:
    app = FieldApp("SGLANG_USE_ROCM_VAE", present=False)
    async with app.run_test(size=(80, 8)):
        assert app.field.has_class("-no-effect")
        assert "no effect on this host" in str(app.field.query_one(".head").render())


async def test_switch_and_select_edits_are_reported_and_reset_restores_the_default() -> None:
    app = FieldApp("SGLANG_CACHE_DIT_ENABLED")
    async with app.run_test(size=(80, 8)) as pilot:
        switch = app.field.editor
        switch.focus()
        await pilot.press("space")
        await pilot.pause()
        assert app.changes[-1].raw == "true"
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert isinstance(switch, Switch) and switch.value is False
        assert app.changes[-1].raw is None


@pytest.mark.parametrize(("raw", "on"), [("y", True), ("T", True), ("n", False), ("off", False)])
async def test_switch_shows_what_sglang_reads(raw: str, on: bool) -> None:
    app = FieldApp("SGLANG_CACHE_DIT_ENABLED", raw)
    async with app.run_test(size=(80, 8)):
        assert app.field.editor.value is on
        assert not app.field.has_class("-invalid")


@pytest.mark.parametrize(("name", "raw"), [("SGLANG_KERNEL_API_LOGLEVEL", "2"),
                                           ("SGLANG_CACHE_DIT_SCM_PRESET", "Fast")])
async def test_an_undocumented_value_the_runtime_accepts_is_shown_picked(name: str, raw: str) -> None:
    app = FieldApp(name, raw)
    async with app.run_test(size=(80, 8)):
        assert not app.field.has_class("-invalid")
        assert app.field.editor.value == raw


@pytest.mark.parametrize(("raw", "shown"), [(None, "unset: the default applies"), ("torch_sdpa", "torch_sdpa")])
async def test_a_light_picker_draws_what_the_select_draws_then_becomes_it(raw: str | None, shown: str) -> None:
    app = FieldApp("SGLANG_DIFFUSION_ATTENTION_BACKEND", raw, light_select=True)
    async with app.run_test(size=(80, 8)) as pilot:
        stand_in = app.field.editor
        assert not isinstance(stand_in, Select) and not stand_in.focusable
        drawn = str(stand_in.render())
        assert drawn.startswith(shown) and drawn.rstrip().endswith("▼")
        await app.field.complete()
        await pilot.pause()
        select = app.field.editor
        assert isinstance(select, Select) and not stand_in.is_attached
        assert select.value == (Select.NULL if raw is None else raw)
        assert shown in str(select.query_one("SelectCurrent #label").render())
        await app.field.complete()  # once only
        assert app.field.editor is select

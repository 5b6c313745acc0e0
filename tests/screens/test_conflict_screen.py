"""Saving from the console over a session another writer changed: the console asks, never overwrites.

A real second writer (``Session.save`` on the same file, as ``env set`` in a terminal would do)
changes the file while the console holds unsaved edits; ctrl+s then offers merge / reload /
overwrite, and each answer leaves the file as it says.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.console_helpers import pilot_wait_until
from tui.screens.conflict_screen import ConflictScreen
from tui.session import Session


async def _edit_then_conflict(app: Any, pilot: Any, ui_env: dict[str, str]) -> None:
    app.session.set("SGLANG_CACHE_DIT_BN", "3")
    other = Session.load("ops", ui_env)
    other.set("SGLANG_CACHE_DIT_MC", "5")
    other.save()
    await pilot.press("ctrl+s")
    await pilot_wait_until(pilot, lambda: isinstance(app.screen, ConflictScreen),
                           describe=lambda: "the conflict was not asked about")


@pytest.mark.parametrize(("choice", "expected"), [
    ("merge", {"SGLANG_CACHE_DIT_FN": "2", "SGLANG_CACHE_DIT_MC": "5", "SGLANG_CACHE_DIT_BN": "3"}),
    ("reload", {"SGLANG_CACHE_DIT_FN": "2", "SGLANG_CACHE_DIT_MC": "5"}),
    ("overwrite", {"SGLANG_CACHE_DIT_FN": "2", "SGLANG_CACHE_DIT_BN": "3"}),
    ("cancel", {"SGLANG_CACHE_DIT_FN": "2", "SGLANG_CACHE_DIT_MC": "5"}),
])
async def test_save_over_a_changed_file_asks(console: Any, ui_env: dict[str, str], choice: str,
                                             expected: dict[str, str]) -> None:
    first = Session.new("ops", ui_env)
    first.set("SGLANG_CACHE_DIT_FN", "2")
    first.save()
    app = console(session="ops")
    async with app.run_test(size=(100, 30)) as pilot:
        await _edit_then_conflict(app, pilot, ui_env)
        assert Session.load("ops", ui_env).values == {"SGLANG_CACHE_DIT_FN": "2", "SGLANG_CACHE_DIT_MC": "5"}
        await pilot.click(f"#{choice}")
        await pilot_wait_until(pilot, lambda: not isinstance(app.screen, ConflictScreen))
        assert Session.load("ops", ui_env).values == expected
        if choice == "reload":
            assert app.session.values == expected and not app.session.dirty

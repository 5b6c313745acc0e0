"""Fixtures for the console's UI tests: an isolated environment and the app factory.

Why: a Pilot test must never read the operator's sessions or variables, nor write under
the real config or cache roots; every app is built by ``make_app`` (the one factory).
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.console_helpers import pilot_wait_until
from tests.demo import demo_environ

REPO_ROOT = Path(__file__).resolve().parents[1]
FAKE_CHILD = REPO_ROOT / "tests" / "data" / "fake_sglang_child.py"


@pytest.fixture
def ui_env(tmp_path: Path) -> dict[str, str]:
    """Environment of a console under test: roots in ``tmp_path``, no managed variables, cpu only."""
    return demo_environ(str(tmp_path), {"FAKE_CHILD_OUTPUT": str(tmp_path / "out" / "image.png")})


@pytest.fixture
def console(ui_env: dict[str, str]) -> Callable[..., Any]:
    """``console(**options)`` builds a ConsoleApp through ``make_app`` with the isolated environment."""
    from tui.__main__ import make_app

    def build(session: str | None = None, command: list[str] | None = None, **options: Any) -> Any:
        options.setdefault("environ", ui_env)
        options.setdefault("host_platforms", frozenset({"cpu"}))
        options.setdefault("half_block", True)
        options.setdefault("theme", "textual-dark")
        app = make_app(session=session, command=command, **options)
        run_test = app.run_test

        @asynccontextmanager
        async def settled_run_test(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
            """``run_test`` that hands over the pilot once the first pane and the views are built."""
            async with run_test(*args, **kwargs) as pilot:
                await pilot_wait_until(pilot, lambda: app.settled, timeout=60)
                yield pilot

        app.run_test = settled_run_test
        return app

    return build


def fake_child(*args: str) -> list[str]:
    """Command line of the SGLang-shaped test child."""
    return [sys.executable, str(FAKE_CHILD), *args]

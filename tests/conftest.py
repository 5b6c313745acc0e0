"""Shared pytest setup: every ``tests/fixtures_*.py`` module is loaded as a plugin.

Why: several rooms contribute fixtures (S3 server, backend runs, sessions); each keeps
them in its own module instead of one ever-growing conftest.
"""

from __future__ import annotations

import pathlib

pytest_plugins = sorted(
    f"tests.{p.stem}" for p in pathlib.Path(__file__).parent.glob("fixtures_*.py")
)

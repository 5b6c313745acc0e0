"""Fixtures for sessions and the ``env`` CLI: an isolated config root and a clean environment.

Why: the operator's own ``SGLANG_*`` variables and config directory must never leak into a
test, and a test must never write under the real ``~/.config``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.envs import MANAGED_PREFIXES

REPO_ROOT = Path(__file__).resolve().parents[1]


def _clean_environ(config_root: Path) -> dict[str, str]:
    """A minimal environment: no managed variables, config under ``config_root``, one platform."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(MANAGED_PREFIXES) and not k.startswith("XDG_")
    }
    env["SGLANG_DIFFUSION_CONFIG_ROOT"] = str(config_root)
    env["SGL_CONSOLE_PLATFORMS"] = "cuda"
    env.pop("PYTHONSTARTUP", None)
    return env


@pytest.fixture
def config_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty config root set as ``SGLANG_DIFFUSION_CONFIG_ROOT`` in ``os.environ``; managed
    variables from the outer environment are removed for the test."""
    root = tmp_path / "config"
    for name in list(os.environ):
        if name.startswith(MANAGED_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SGLANG_DIFFUSION_CONFIG_ROOT", str(root))
    yield root


@pytest.fixture
def clean_env(config_root: Path) -> dict[str, str]:
    """The environment for a subprocess (CLI, bash, writer) that uses ``config_root``."""
    return _clean_environ(config_root)


@pytest.fixture
def sessions_path(config_root: Path) -> Path:
    """Where the sessions of ``config_root`` live (not created)."""
    return config_root / "console" / "sessions"


class CliResult:
    """What one ``sgl-console`` run produced."""

    def __init__(self, proc: subprocess.CompletedProcess[str]) -> None:
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def __repr__(self) -> str:
        return f"CliResult(rc={self.rc}, out={self.out[-2000:]!r}, err={self.err[-2000:]!r})"


def _cli_command() -> list[str]:
    """``sgl-console`` as the operator runs it."""
    return [sys.executable, "-m", "tui"]


@pytest.fixture(scope="session")
def cli_command() -> list[str]:
    return _cli_command()


@pytest.fixture
def run_cli(clean_env: dict[str, str], cli_command: list[str]):  # type: ignore[no-untyped-def]
    """Run ``sgl-console <args>`` in a subprocess with the isolated environment."""

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> CliResult:
        proc = subprocess.run([*cli_command, *args], cwd=REPO_ROOT, env={**clean_env, **(env or {})},
                              capture_output=True, text=True, input=input, timeout=120)
        return CliResult(proc)

    return run

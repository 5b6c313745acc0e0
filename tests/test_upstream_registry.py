"""The version-aware registry against the real sglang 0.5.23 wheel, installed ``--no-deps`` in a venv.

The wheel is fetched with ``pip download`` (skipped, saying so, only when the package registry
cannot be reached); nothing of it is imported: the console reads its source.  The truth sets are
read from the installed ``get_bool_env_var`` itself, so the test follows the release.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend import envs
from backend.envs import upstream
from tests.console_helpers import pilot_wait_until
from tests.fixtures_session import REPO_ROOT
from tui import upstream_registry

RELEASE = "0.5.23"


@pytest.fixture(scope="session")
def sglang_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv whose interpreter has sglang 0.5.23 (no dependencies: no torch)."""
    root = tmp_path_factory.mktemp("sglang_venv")
    wheels = root / "wheels"
    got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"sglang=={RELEASE}",
                          "-d", str(wheels)], capture_output=True, text=True, timeout=600)
    if got.returncode != 0:
        pytest.skip(f"sglang {RELEASE} could not be downloaded (package registry unreachable?): {got.stderr[-300:]}")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    wheel = next(wheels.glob("sglang-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-compile", str(wheel)], check=True, timeout=600)
    return venv


@pytest.fixture
def active(sglang_venv: Path, tmp_path: Path) -> Iterator[upstream_registry.RegistryState]:
    state = upstream_registry.activate(python=str(sglang_venv / "bin" / "python"),
                                       environ={"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")})
    yield state
    upstream_registry.activate(None)


def installed_truth_sets(package: Path) -> tuple[set[str], set[str]]:
    """``truthy_values`` / ``falsy_values`` of the installed ``get_bool_env_var``, read with ast."""
    tree = ast.parse((package / "multimodal_gen/runtime/utils/common.py").read_text(encoding="utf-8"))
    func = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "get_bool_env_var")
    sets = {t.id: ast.literal_eval(n.value) for n in ast.walk(func) if isinstance(n, ast.Assign)
            for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Set)}
    return sets["truthy_values"], sets["falsy_values"]


def test_the_release_is_found_without_importing_it(active: upstream_registry.RegistryState, tmp_path: Path) -> None:
    assert active.release is not None and active.release.version == RELEASE
    assert active.label() == f"spec + sglang {RELEASE}"
    assert active.package_dir is not None and "sglang" not in sys.modules
    cached = list((tmp_path / "cache" / "sgl_diffusion" / "console" / "upstream").glob(f"{RELEASE}-*.json"))
    assert len(cached) == 1 and cached[0].stat().st_mode & 0o777 == 0o600
    assert cached[0].parent.stat().st_mode & 0o777 == 0o700
    assert upstream.Release.from_json(cached[0].read_text()) == active.release
    assert envs.REGISTRY["SGLANG_CACHE_DIT_DMD"].origin == f"sglang {RELEASE}"


def test_check_accepts_every_value_the_release_accepts(active: upstream_registry.RegistryState) -> None:
    assert active.release is not None and active.package_dir is not None
    truthy, falsy = installed_truth_sets(active.package_dir)
    assert {"y", "t"} <= truthy and {"n", "f", ""} <= falsy
    tried = 0
    for var in active.release.variables:
        formats: dict[str, Any] = {}
        if var.type == "bool":
            formats = {w: w in truthy for w in truthy | falsy} | {w.upper(): w in truthy for w in truthy | falsy}
        elif var.type == "int":
            formats = {s: int(s) for s in ("-1", "0", "+2", " 5 ", "1_0")}
        elif var.type == "float":
            formats = {s: float(s) for s in ("0", "-1", "1e-8", " 2.5 ")}
        for raw, value in formats.items():
            problems = envs.check({var.name: raw}, {"HOME": "/home/op"}, frozenset({"cuda", "cpu"}), strict=False)
            assert not [p for p in problems if p.is_error and var.name in p.names], (var.name, raw, problems)
            assert envs.resolve({var.name: raw}, {"HOME": "/home/op"}, strict=False)[var.name].value == value
            tried += 1
    assert tried > 300
    print(f"upstream values checked: {tried}")


def test_env_commands_cover_the_release(sglang_venv: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    python = str(sglang_venv / "bin" / "python")
    shown = run_cli("env", "show", "--python", python)
    assert shown.rc == 0, shown
    assert f"# registry: spec + sglang {RELEASE}" in shown.out
    assert "SGLANG_CACHE_DIT_DMD_HISTORY" in shown.out and f"[sglang {RELEASE}]" in shown.out
    assert f"not read by sglang {RELEASE}; the console passes it as --log-level" in shown.out
    checked = run_cli("env", "check", "--python", python,
                      env={"SGLANG_CACHE_DIT_DMD": "t", "SGLANG_DIFFUSION_TARGET_DEVICE": "cuda"})
    assert checked.rc == 0, checked
    assert f"SGLANG_DIFFUSION_TARGET_DEVICE: not read by sglang {RELEASE}" not in checked.out  # env, not the session
    docs = run_cli("env", "docs", "--python", python)
    assert "| SGLANG_DIFFUSION_PLATFORM_OVERRIDE | Runtime |" in docs.out and f"sglang {RELEASE} |" in docs.out
    assert run_cli("env", "set", "rel", "SGLANG_CACHE_DIT_DMD=t").rc == 2  # spec alone: not a variable it knows
    assert run_cli("env", "set", "rel", "SGLANG_CACHE_DIT_DMD=t", "--python", python).rc == 0
    by_command = run_cli("--command", f"{sglang_venv / 'bin' / 'sglang'} generate --model-path m", "env", "show")
    assert f"# registry: spec + sglang {RELEASE}" in by_command.out, by_command


async def test_console_shows_the_release_and_says_which_registry(sglang_venv: Path, console: Any) -> None:
    from tui.widgets.session_header import SessionHeader
    from tui.widgets.var_field import VarField

    app = console(command=[str(sglang_venv / "bin" / "sglang"), "generate", "--model-path", "m"])
    async with app.run_test(size=(120, 30)) as pilot:
        assert app.query_one(SessionHeader).registry == f"spec + sglang {RELEASE}"
        app.action_show("caching")
        await _pane_built(app, pilot, envs.Pane.CACHING)
        app.query_one("#field-SGLANG_CACHE_DIT_DMD", VarField)
        app.action_show("runtime")
        await _pane_built(app, pilot, envs.Pane.RUNTIME)
        head = app.query_one("#field-SGLANG_DIFFUSION_TARGET_DEVICE", VarField).query_one(".head")
        assert getattr(head, "runtime_note", "") == f"not read by sglang {RELEASE}: no effect with this runtime"
        app.query_one("#field-SGLANG_DIFFUSION_PLATFORM_OVERRIDE", VarField)
    plain = console()
    async with plain.run_test(size=(120, 30)) as pilot:
        await _settle(plain, pilot, "SessionHeader")
        assert plain.query_one(SessionHeader).registry == "spec only"
    assert "SGLANG_CACHE_DIT_DMD" not in envs.REGISTRY


async def _pane_built(app: Any, pilot: Any, pane: envs.Pane) -> None:
    """Wait (with a deadline) until a lazily built pane has mounted one field per variable, and the
    app has synced them (the pane is built in a coroutine that must finish before the app exits)."""
    from tui.screens.settings_pane import SettingsPane

    widget = app.query_one(f"#pane-{pane.name.lower()}", SettingsPane)
    await pilot_wait_until(
        pilot, lambda: len(widget.fields) == len(envs.by_pane(pane)) and all(f.is_mounted for f in widget.fields),
        describe=lambda: f"pane {pane.value} was never built")
    await pilot.pause()
    await pilot.pause()


async def _settle(app: Any, pilot: Any, selector: str) -> None:
    """Wait (with a deadline) until the lazily built pane holds ``selector``."""
    await pilot_wait_until(pilot, lambda: app.query(selector), describe=lambda: f"{selector} never appeared")


def test_no_torch_import_in_the_console_process() -> None:
    code = ("import sys; from tui import upstream_registry; upstream_registry.activate(['sglang', 'generate']); "
            "print('torch' in sys.modules, 'sglang' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert out.stdout.split() == ["False", "False"], out

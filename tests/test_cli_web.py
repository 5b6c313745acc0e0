"""``sgl-console serve-web`` without a browser: the binding rules, the token and the Origin check,
through a real server on loopback and real HTTP requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console_helpers import wait_until
from tui import cli_web
from tui.__main__ import main

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "t0k3n-for-the-test-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode("utf-8", "replace")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A serve-web on loopback with a token set (the guard is on whenever a token is given)."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), HOME=str(tmp_path), **{cli_web.TOKEN_ENV: TOKEN})
    proc = subprocess.Popen([sys.executable, "-m", "tui", "serve-web", "--port", str(port)], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening, timeout=30, describe=proc.poll)
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_off_loopback_without_token_is_refused(capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cli_web.TOKEN_ENV, raising=False)
    assert main(["serve-web", "--host", "0.0.0.0", "--port", "8566"]) == cli_web.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "--host 0.0.0.0 is not loopback" in err and cli_web.TOKEN_ENV in err


def test_short_token_and_unreadable_token_file_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cli_web.TOKEN_ENV, "short")
    assert main(["serve-web", "--port", "8566"]) == cli_web.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "has 5 characters; at least 16" in err and "short" not in err  # the value is never echoed
    missing = tmp_path / "nope"
    assert main(["serve-web", "--token-file", str(missing)]) == cli_web.EXIT_REFUSED
    assert f"--token-file {str(missing)!r}: cannot read it" in capsys.readouterr().err


def test_bad_port_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve-web", "--port", "70000"]) == cli_web.EXIT_REFUSED
    assert "--port 70000: must be 1..65535" in capsys.readouterr().err


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                                ("127.0.0.2", True), ("0.0.0.0", False), ("10.1.2.3", False),
                                                ("gpu-host.example", False)])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert cli_web.is_loopback(host) is loopback


def test_origin_rules() -> None:
    assert cli_web.origin_allowed(None, "127.0.0.1:8566")
    assert cli_web.origin_allowed("http://127.0.0.1:8566", "127.0.0.1:8566")
    assert not cli_web.origin_allowed("http://evil.example", "127.0.0.1:8566")
    assert not cli_web.origin_allowed("http://127.0.0.1:9999", "127.0.0.1:8566")
    assert not cli_web.origin_allowed("file://", "127.0.0.1:8566")


def test_token_guard(server: tuple[int, subprocess.Popen[bytes]]) -> None:
    port, proc = server
    base = f"http://127.0.0.1:{port}"
    status, _, body = _get(base + "/")
    assert status == 403 and "token required" in body
    assert _get(base + "/?token=wrong-token-0123456789")[0] == 403
    status, headers, body = _get(f"{base}/?token={TOKEN}")
    assert status == 200 and f"ws://127.0.0.1:{port}/ws" in body
    cookie = headers["Set-Cookie"].split(";")[0]
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    assert _get(base + "/", {"Cookie": cookie})[0] == 200
    assert _get(base + "/static/js/textual.js")[0] == 200  # the page's script: no console behind it
    status, _, body = _get(base + "/ws", {"Cookie": cookie, "Origin": "http://evil.example"})
    assert status == 403 and "cross-site Origin" in body
    proc.terminate()
    out = proc.communicate(timeout=15)[0].decode("utf-8", "replace")
    assert TOKEN not in out, "the token must never be printed (the access log shows query strings)"

"""The console in a real browser: ``sgl-console serve-web`` driven through Debian's Chromium.

The page draws the terminal on a canvas, so the test reads what the console sent to the page
(the websocket frames, ANSI stripped) and drives it with real key presses.  Path: open the
page, see the five panes, change a variable, save (checked on disk), run the default prompt
(our real backend), see the stage table and the image, start a second run, close the tab, and
check that no process of the console or its run survives.  A PNG of the page goes to
``screenshots/web-console.png`` when ``SGL_UPDATE_SCREENSHOTS=1``, else under the test's tmp dir.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.console_helpers import pid_running, wait_until

CHROMIUM = "/usr/bin/chromium"
REPO_ROOT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Screen:
    """Everything the console sent to the page, as text (ANSI stripped), with a read mark."""

    def __init__(self) -> None:
        self.chunks: list[str] = []
        self.raw: list[str] = []
        self.mark = 0

    def on_frame(self, payload: bytes | str) -> None:
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
        self.raw.append(text)
        self.chunks.append(ANSI.sub("", text))

    def since_mark(self) -> str:
        return "".join(self.chunks[self.mark:])

    def wait_for(self, page: object, *texts: str, timeout: float = 60.0) -> None:
        """Until each of ``texts`` was sent since the mark; then move the mark to the end."""
        deadline = time.monotonic() + timeout
        while not all(t in self.since_mark() for t in texts):
            if time.monotonic() > deadline:
                if os.environ.get("SGL_WEB_FAILSHOT"):  # a picture of the page, for whoever debugs it
                    page.screenshot(path=os.environ["SGL_WEB_FAILSHOT"])  # type: ignore[attr-defined]
                missing = [t for t in texts if t not in self.since_mark()]
                raise AssertionError(f"{missing!r} not sent to the page within {timeout} s; "
                                     f"last text: {self.since_mark()[-1500:]!r}")
            page.wait_for_timeout(50)  # type: ignore[attr-defined]  # lets Playwright deliver frames
        self.mark = len(self.chunks)

    def wait_quiet(self, page: object, quiet: float = 1.0, timeout: float = 30.0) -> None:
        """Until nothing was sent for ``quiet`` seconds: a pane mounted lazily is complete then."""
        deadline = time.monotonic() + timeout
        seen, since = len(self.chunks), time.monotonic()
        while time.monotonic() - since < quiet:
            assert time.monotonic() < deadline, f"the page never went quiet within {timeout} s"
            page.wait_for_timeout(50)  # type: ignore[attr-defined]
            if len(self.chunks) != seen:
                seen, since = len(self.chunks), time.monotonic()
        self.mark = len(self.chunks)


    def row_of(self, name: str) -> int:
        """The screen row (1-based) where ``name`` was last drawn: Textual moves the cursor with
        ``ESC[row;colH`` before each run of text."""
        raw = "".join(self.raw)
        moves = list(re.finditer(r"\x1b\[(\d+);(\d+)H", raw[:raw.rindex(name)]))
        assert moves, f"no cursor move before {name}"
        return int(moves[-1].group(1))

    def blinks_at(self, row: int, since: int) -> int:
        """Redraws of screen row ``row`` since chunk ``since``: a focused Input's cursor blinks."""
        return len(re.findall(rf"\x1b\[{row};\d+H", "".join(self.raw[since:])))

    def focus_row(self, page: object, row: int, key: str = "Tab", tries: int = 8) -> None:
        """Press ``key`` until the Input on ``row`` has the focus (its cursor blinks there): a
        canvas shows focus only so, and a key sent while a pane still mounts may land elsewhere."""
        for _ in range(tries):
            page.keyboard.press(key)  # type: ignore[attr-defined]
            since, deadline = len(self.raw), time.monotonic() + 2.5
            while time.monotonic() < deadline:
                page.wait_for_timeout(50)  # type: ignore[attr-defined]
                if self.blinks_at(row, since) >= 2:
                    self.mark = len(self.chunks)
                    return
        raise AssertionError(f"no Input on row {row} took the focus after {tries} x {key}")


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_console_in_chromium(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SGLANG_", "XDG_", "TEXTUAL"))}
    env.update({"HOME": str(tmp_path), "SGLANG_DIFFUSION_CONFIG_ROOT": str(tmp_path / "config"),
                "SGLANG_DIFFUSION_CACHE_ROOT": str(tmp_path / "cache"), "SGL_CONSOLE_PLATFORMS": "cpu",
                "PYTHONPATH": str(REPO_ROOT)})
    server = subprocess.Popen([sys.executable, "-m", "tui", "serve-web", "--port", str(port)], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    screen = Screen()
    try:
        wait_until(lambda: _listening(port), timeout=30, describe=lambda: server.poll())
        with playwright_sync.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("websocket", lambda ws: ws.on("framereceived", screen.on_frame))
            page.goto(f"http://127.0.0.1:{port}/")
            screen.wait_for(page, "Runtime", "Platform", "Caching", "Storage", "Debug",
                            "SGLANG_DIFFUSION_TARGET_DEVICE", "f5")
            page.locator("#terminal textarea").focus()  # xterm.js reads keys from its hidden textarea
            screen.wait_quiet(page, 2.0)  # start-up done (the live views mount after the first frame)
            consoles = descendants(server.pid)
            assert consoles, "no console process was started for the browser session"

            # Change a variable (Caching pane, the field after the Cache-DiT switch), save it.
            page.keyboard.press("F2")
            screen.wait_for(page, "SGLANG_USE_MLX")
            page.keyboard.press("F2")
            screen.wait_for(page, "SGLANG_CACHE_DIT_FN")
            screen.wait_quiet(page)
            screen.focus_row(page, screen.row_of("SGLANG_CACHE_DIT_FN") + 2)  # its Input: title, help, field
            page.keyboard.press("2")  # the field is empty (the default applies): now 2
            screen.wait_for(page, "unsaved")
            page.keyboard.press("F9")  # the diff against the defaults names it
            screen.wait_for(page, "Diff: session", "SGLANG_CACHE_DIT_FN")
            page.keyboard.press("Escape")
            screen.wait_for(page, "Runtime")
            page.keyboard.press("Control+s")
            session_file = tmp_path / "config" / "console" / "sessions" / "default.env"
            wait_until(lambda: session_file.exists() and "SGLANG_CACHE_DIT_FN=2" in session_file.read_text(),
                       timeout=20, describe=lambda: session_file.exists() and session_file.read_text())

            # Run the default prompt with our backend; the stage table fills, the image appears.
            page.keyboard.press("F5")
            screen.wait_for(page, "exited normally", timeout=180)
            page.keyboard.press("F3")
            page.keyboard.press("F3")
            screen.wait_for(page, "DenoisingStage")
            shot = REPO_ROOT / "screenshots" if os.environ.get("SGL_UPDATE_SCREENSHOTS") == "1" else tmp_path
            box = page.locator(".xterm-screen").bounding_box()
            assert box is not None
            # The page with the stage table; cut above the status line (it shows this machine's paths).
            page.screenshot(path=str(shot / "web-console.png"),
                            clip={"x": box["x"], "y": box["y"], "width": box["width"], "height": box["height"] * 46 / 50})
            for _ in range(3):
                page.keyboard.press("F3")
            screen.wait_for(page, "output: ", "\u2580")
            outputs = list((tmp_path / "outputs").glob("*.png"))
            assert outputs, "the run wrote no image (our backend writes to ./outputs by default)"

            # A second run in flight, then the tab closes: the console stops it and leaves.
            page.keyboard.press("F5")
            backend = wait_until(lambda: [p for p in descendants(server.pid)
                                          if "backend" in " ".join(_cmdline(p))], timeout=60)
            watched = {p.pid for p in descendants(server.pid)}
            assert {p.pid for p in backend} <= watched
            page.close()
            wait_until(lambda: not any(pid_running(pid) for pid in watched), timeout=45,
                       describe=lambda: [(pid, _cmdline_pid(pid)) for pid in watched if pid_running(pid)])
            browser.close()
        assert server.poll() is None, "closing a tab must not stop the server"
    finally:
        server.terminate()
        try:
            out, _ = server.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            out, _ = server.communicate(timeout=5)
        if sys.exc_info()[0] is not None:
            print(out.decode("utf-8", "replace")[-4000:])
    assert server.returncode == 0


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _cmdline(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def _cmdline_pid(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except (psutil.Error, OSError):
        return "?"


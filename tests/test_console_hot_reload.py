"""The console watching the attention config: each atomic save re-validated and shown with its diff;
an invalid save shows the error with its line and keeps the last good config."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.console_helpers import pilot_wait_until
from tui.widgets.attention_view import AttentionView


def save(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # editors save by rename: the watcher watches the directory


async def wait_seq(pilot: Any, view: AttentionView, seq: int, timeout: float = 10.0) -> None:
    await pilot_wait_until(pilot, lambda: view.last_event is not None and view.last_event.seq > seq, timeout,
                           describe=lambda: "no reload shown")


async def test_saves_are_validated_and_shown(console: Any, tmp_path: Path) -> None:
    path = tmp_path / "attention.json"
    path.write_text(json.dumps({"scale": 0.1}))
    app = console()
    async with app.run_test(size=(80, 24)) as pilot:
        app.session.set("SGLANG_DIFFUSION_ATTENTION_CONFIG", str(path))
        from tui.messages import SessionChanged

        app.post_message(SessionChanged("SGLANG_DIFFUSION_ATTENTION_CONFIG"))
        app.action_show("attention")
        view = app.views.attention  # composed on its first show; takes events from the start
        await wait_seq(pilot, view, 0)
        assert view.last_event.ok and view.last_event.initial
        for i in range(5):
            seq = view.last_event.seq
            save(path, json.dumps({"scale": [0.2, 0.3, 0.4, 0.5, 0.6][i]}))
            await wait_seq(pilot, view, seq)
            assert view.last_event.ok and "scale" in str(view.query_one("#diff").render())
        seq = view.last_event.seq
        save(path, '{\n  "scale": -1\n}\n')
        await wait_seq(pilot, view, seq)
        status = str(view.query_one("#status").render())
        assert not view.last_event.ok and "line 2" in status and "keeping the last good config" in status
        assert view.last_event.config == {"scale": 0.6}

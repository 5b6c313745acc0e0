"""Drill: hostile HTTP against a real ``sgl-backend serve``: the bad requests of issue 10 (defects 1
and 8) by hand, then a hypothesis-fuzzed JSON body.

Required: no 5xx, no dropped connection, no file written outside the output directory (the test's
folder is snapshotted before and after; the server's own cache and log folders are the only other
places it may write), and the server still answering (``/health`` and one real request) at the end.
"""

from __future__ import annotations

import http.client
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures_backend import ServeProcess, clean_env
from tests.reliability.support import size

pytestmark = pytest.mark.slow


def _raw(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> int:
    """One request on a fresh connection; the status, or 0 when the server dropped or stalled it."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for key, value in headers.items():
            conn.putheader(key, value)
        conn.endheaders(body)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def _tree(root: Path, skip: tuple[Path, ...]) -> set[str]:
    return {str(p) for p in root.rglob("*") if not any(p == s or s in p.parents for s in skip)}


JSON = {"Content-Type": "application/json"}


def _post(body: Any, **headers: str) -> tuple[bytes, dict[str, str]]:
    data = body if isinstance(body, bytes) else json.dumps(body, allow_nan=True).encode()
    return data, {**JSON, "Content-Length": str(len(data)), **headers}


def _hand_made(victim: Path) -> list[tuple[str, bytes | None, dict[str, str]]]:
    good = {"prompt": "a red circle", "steps": 1}
    cases: list[tuple[str, Any, dict[str, str]]] = [
        ("perf_dump_path outside", *_post({**good, "perf_dump_path": str(victim)})),
        ("perf_dump_path ..", *_post({**good, "perf_dump_path": "../victim.txt"})),
        ("output_file_name path", *_post({**good, "output_file_name": str(victim.with_suffix(".png"))})),
        ("form body", b"prompt=a&steps=1", {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "16"}),
        ("browser origin", *_post(good, Origin="http://evil.example")),
        ("steps 1e8", *_post({**good, "steps": 100_000_000})),
        ("negative_prompt 5", *_post({**good, "negative_prompt": 5})),
        ("output_file_name [1]", *_post({**good, "output_file_name": [1]})),
        ("huge seed", *_post({**good, "seed": 99999999999999999999999})),
        ("guidance nan", *_post({**good, "guidance_scale": math.nan})),
        ("not json", *_post(b"{not json")),
        ("deep json", *_post(b"[" * 100_000 + b"]" * 100_000)),
        ("array body", *_post([1, 2])),
        ("Content-Length abc", b"{}", {**JSON, "Content-Length": "abc"}),
        ("Content-Length -1", b"{}", {**JSON, "Content-Length": "-1"}),
        ("no Content-Length", None, JSON),
        ("body over limit", b"", {**JSON, "Content-Length": str(1 << 30)}),
    ]
    return cases


FIELD = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True),
    st.text(max_size=30), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(["64x64", "8x8", "1x1", "0x64", "x", "64x", "auto", "../../etc/passwd", "/tmp/x", "a.png", ".hidden",
                     "nul\x00.png", "a" * 300]),
)
KEYS = st.sampled_from(["prompt", "n", "size", "steps", "num_inference_steps", "seed", "negative_prompt",
                        "guidance_scale", "output_file_name", "perf_dump_path", "id", "extra"])


def test_http_bad_requests_and_fuzzed_bodies(tmp_path: Path, figure: Callable[[str, str], None]) -> None:
    env = clean_env(tmp_path, SGLANG_DIFFUSION_SERVER_DEV_MODE="true")
    server = ServeProcess(tmp_path, env, "--no-stdin", "--max-steps", "2")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    skip = (tmp_path / "out", tmp_path / "cache", tmp_path / "logs")
    before = _tree(tmp_path, skip)
    statuses: dict[str, int] = {}
    bad: list[str] = []
    try:
        for name, body, headers in _hand_made(victim):
            status = _raw(server.port, "POST", "/v1/images/generations", body, headers)
            statuses[name] = status
            if status == 0 or status >= 500 or status == 200:
                bad.append(f"{name}: {status or 'connection dropped'}")

        fuzzed = 0

        @settings(max_examples=size(60, 600), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.dictionaries(KEYS, FIELD, max_size=6), st.booleans())
        def run(body: dict[str, Any], with_prompt: bool) -> None:
            nonlocal fuzzed
            fuzzed += 1
            if with_prompt:
                body = {"prompt": "a red circle", **body}
            data, headers = _post(body)
            status = _raw(server.port, "POST", "/v1/images/generations", data, headers)
            if status == 0 or status >= 500:
                bad.append(f"fuzzed {body!r}: {status or 'connection dropped'}")

        run()
        health = _raw(server.port, "GET", "/health", None, {})
        final = _raw(server.port, "POST", "/v1/images/generations", *_post({"prompt": "a red circle", "steps": 1}))
    finally:
        server.stop()
    outside = sorted(_tree(tmp_path, skip) - before)
    five = sum(1 for line in bad if ": 5" in line)
    figure("http", f"{len(statuses)} hand-made bad requests + {fuzzed} fuzzed bodies: {five} 5xx, "
                   f"{sum('dropped' in b for b in bad)} dropped, {len(outside)} files outside the output directory, "
                   f"still answering: {'yes' if (health, final) == (200, 200) else 'no'}")
    assert victim.read_text() == "precious"
    assert not bad, "\n".join(bad[:20])
    assert not outside, outside
    assert (health, final) == (200, 200)

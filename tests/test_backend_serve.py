"""``sgl-backend serve``: stdin and HTTP requests, attention-config hot reload, dev endpoints, stopping."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from backend.exit_codes import BackendError, ExitCode
from backend.server.request_body import request_from_body
from tests.fixtures_backend import DEVICE, clean_env


def _save_by_rename(path: Path, data: dict[str, Any]) -> None:
    """What editors do: write a temporary file beside it, then rename it over the original."""
    tmp = path.with_name(path.name + ".swp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


@pytest.mark.slow
def test_serve_dev_mode_reload_stdin_http_sigterm(tmp_path: Path, serve_process: Any) -> None:
    config = tmp_path / "attention.json"
    config.write_text(json.dumps({"sdpa_kernels": ["math"]}))
    env = clean_env(tmp_path, SGLANG_DIFFUSION_ATTENTION_CONFIG=str(config), SGLANG_DIFFUSION_SERVER_DEV_MODE="true",
                    SGLANG_DIFFUSION_STAGE_LOGGING="1")
    server = serve_process(env)

    server.send({"prompt": "a red circle", "steps": 2, "id": "first"})
    first = server.wait_responses(1)[0]
    assert first["id"] == "first" and first["error"] is None and Path(first["paths"][0]).is_file()
    assert first["attention"]["config"] == {"sdpa_kernels": ["math"]}
    assert len(first["timings"]["steps"]) == 2

    _save_by_rename(config, {"sdpa_kernels": ["flash", "math"], "scale": 0.125})
    server.send({"prompt": "a blue square", "steps": 2, "seed": 3, "id": "second"})
    second = server.wait_responses(2)[1]
    assert second["id"] == "second" and second["error"] is None
    assert second["attention"]["config"] == {"sdpa_kernels": ["flash", "math"], "scale": 0.125}
    server.wait_for(r"Applied attention config: .*\+ scale=0\.125")

    for n, prompt in enumerate(["a green triangle", "a small yellow diamond"]):
        status, body = server.http("POST", "/v1/images/generations", {"prompt": prompt, "n": 1, "size": "64x64",
                                                                       "steps": 2, "seed": n})
        assert status == 200, body
        assert body["data"][0]["path"] == body["paths"][0] and Path(body["paths"][0]).is_file()
    status, body = server.http("POST", "/v1/images/generations", {"prompt": "a purple elephant", "steps": 2})
    assert status == 400 and body["error"]["code"] == ExitCode.BAD_REQUEST

    status, health = server.http("GET", "/health")
    assert status == 200 and health["status"] == "ok" and health["requests_served"] == 5
    status, settings = server.http("GET", "/dev/settings")
    assert status == 200 and settings["settings"]["SGLANG_DIFFUSION_SERVER_DEV_MODE"] == "true"
    status, memory = server.http("GET", "/dev/memory")
    assert status == 200 and memory["device"].startswith(DEVICE)
    status, last = server.http("GET", "/dev/last-request")
    assert status == 200 and last["exit_code"] == ExitCode.BAD_REQUEST

    config.write_text('{\n  "sdpa_kernels": ["math"],\n  "bogus": 1\n}\n')
    status, reload = server.http("POST", "/dev/reload-attention-config", {})
    assert status == 400 and "line 3" in reload["error"]["message"]
    assert reload["attention"]["config"]["scale"] == 0.125  # the last good config stays

    assert server.stop() == 0
    server.wait_for(r"Shutting down \(SIGTERM\)")
    server.wait_for(r"Server stopped after 5 request\(s\)")
    perf = (tmp_path / "logs" / "performance.log").read_text().splitlines()
    assert len(perf) == 4


@pytest.mark.slow
def test_serve_without_dev_mode_and_stdin_eof(tmp_path: Path, serve_process: Any) -> None:
    server = serve_process(clean_env(tmp_path))
    for path in ("/health", "/dev/settings", "/dev/memory", "/dev/last-request"):
        assert server.http("GET", path)[0] == 404
    assert server.http("POST", "/dev/reload-attention-config", {})[0] == 404
    status, body = server.http("POST", "/v1/images/generations", {"prompt": "a red circle", "steps": 2})
    assert status == 200 and Path(body["paths"][0]).is_file()
    server.send({"prompt": "a cyan cross", "steps": 2})
    assert server.wait_responses(1)[0]["error"] is None
    assert server.proc.stdin is not None
    server.proc.stdin.close()
    assert server.proc.wait(60) == 0
    server.wait_for(r"Shutting down \(end of stdin\)")


@pytest.mark.parametrize(
    ("body", "needle"),
    [({}, "prompt"), ({"prompt": "x", "n": 0}, "'n'"), ({"prompt": "x", "size": "big"}, "size"),
     ({"prompt": "x", "steps": "4"}, "'steps'"), ([1], "JSON object"),
     ({"prompt": "x", "steps": 100_000_000}, "from 1 to 1000"), ({"prompt": "x", "seed": 10**30}, "'seed'"),
     ({"prompt": "x", "negative_prompt": 5}, "'negative_prompt'"),
     ({"prompt": "x", "output_file_name": [1]}, "'output_file_name'"),
     ({"prompt": "x", "guidance_scale": float("nan")}, "finite"),
     ({"prompt": "x", "perf_dump_path": "/tmp/victim.txt"}, "plain file name"),
     ({"prompt": "x", "perf_dump_path": "../victim.txt"}, "plain file name"),
     ({"prompt": "x", "output_file_name": "../../victim.png"}, "plain file name"),
     ({"prompt": "x", "output_file_name": ".bashrc"}, "plain file name")],
)
def test_request_body_validation(body: Any, needle: str) -> None:
    with pytest.raises(BackendError) as info:
        request_from_body(body, "out", 1000)
    assert info.value.code == ExitCode.BAD_REQUEST and needle in info.value.message


def test_request_body_maps_openai_fields() -> None:
    req = request_from_body({"prompt": "a red circle", "n": 2, "size": "128x64", "steps": 3, "seed": 5}, "out", 1000)
    assert (req.batch_size, req.width, req.height, req.num_inference_steps, req.seed) == (2, 128, 64, 3, 5)
    assert req.perf_dump_tag == "server_perf_dump"


def test_request_body_files_land_in_the_output_directory() -> None:
    req = request_from_body({"prompt": "x", "perf_dump_path": "dump.json", "output_file_name": "a.png"}, "out", 9)
    assert req.perf_dump_path == os.path.join("out", "dump.json") and req.output_file_name == "a.png"


def _raw_post(port: int, headers: dict[str, str], body: bytes) -> int:
    """A hand-built HTTP request, so headers a client library would fix up can be wrong."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", "/v1/images/generations", skip_accept_encoding=True)
        for key, value in headers.items():
            conn.putheader(key, value)
        conn.endheaders()
        conn.send(body)
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.slow
def test_http_bodies_cannot_write_outside_the_output_directory(tmp_path: Path, serve_process: Any) -> None:
    """The reported hole: a POSTed perf_dump_path replaced an arbitrary file. Now 400, file untouched."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    server = serve_process(clean_env(tmp_path))
    body = {"prompt": "a red circle", "steps": 2, "perf_dump_path": str(victim)}
    status, answer = server.http("POST", "/v1/images/generations", body)
    assert status == 400 and "perf_dump_path" in answer["error"]["message"]
    assert victim.read_text() == "precious"
    data = json.dumps(body).encode()
    form = b"prompt=a+red+circle&perf_dump_path=" + str(victim).encode()
    assert _raw_post(server.port, {"Content-Type": "application/x-www-form-urlencoded",
                                   "Content-Length": str(len(form))}, form) == 415
    json_headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
    assert _raw_post(server.port, {**json_headers, "Origin": "http://evil.example"}, data) == 403
    assert _raw_post(server.port, {**json_headers, "Content-Length": "abc"}, data) == 400
    assert _raw_post(server.port, {**json_headers, "Content-Length": "-1"}, data) == 400
    assert victim.read_text() == "precious"
    status, answer = server.http("POST", "/v1/images/generations",
                                 {"prompt": "a red circle", "steps": 2, "perf_dump_path": "dump.json"})
    assert status == 200, answer
    assert Path(answer["paths"][0]).parent.joinpath("dump.json").is_file()
    assert server.http("GET", "/health")[0] == 404  # still answering


@pytest.mark.slow
def test_sigterm_abandons_the_request_in_flight(tmp_path: Path, serve_process: Any) -> None:
    server = serve_process(clean_env(tmp_path))
    server.send({"prompt": "a red circle", "steps": 500, "id": "long"})
    server.wait_for("/500", timeout=120, stderr=True)  # the request is in its denoising loop
    assert server.stop() == 0
    answer = server.wait_responses(1)[0]
    assert answer["id"] == "long" and answer["exit_code"] == ExitCode.CANCELLED
    assert "abandoned before step" in answer["error"]["message"]
    assert not any("500/500" in line for line in server.err)
    server.wait_for(r"Server stopped after 1 request\(s\)")

"""No secret leaves the backend unmasked, and what a run writes is private (issue 10, defect 5).

A marker password in the S3 endpoint URL and the secret key, a real upload to the loopback S3 server,
the dev endpoints, stage logging and the kernel API log: then every byte the backend printed, answered
or wrote is searched for the markers, and every file and directory it created is checked for 0600/0700.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from backend.envs import S3_ENDPOINT_URL, mask_url_userinfo
from tests.fixtures_backend import clean_env
from tests.fixtures_s3 import TEST_KEY_ID, TEST_SECRET

pytestmark = pytest.mark.slow
PASSWORD = "marker-pw-5e3c91"


def test_mask_url_userinfo() -> None:
    assert mask_url_userinfo("http://op:pw-1@127.0.0.1:9000/b") == "http://op:********@127.0.0.1:9000/b"
    assert mask_url_userinfo("failed at https://token@host/x") == "failed at https://********@host/x"
    assert mask_url_userinfo("http://127.0.0.1:9000/a@b") == "http://127.0.0.1:9000/a@b"
    assert S3_ENDPOINT_URL.display("http://op:pw-1@h:1") == "http://op:********@h:1"


def test_no_secret_in_anything_the_backend_writes_or_shows(tmp_path: Path, s3_bucket: Any,
                                                           serve_process: Any) -> None:
    endpoint = s3_bucket.endpoint.replace("http://", f"http://operator:{PASSWORD}@")
    env = clean_env(tmp_path, SGLANG_CLOUD_STORAGE_TYPE="s3", SGLANG_S3_BUCKET_NAME=s3_bucket.name,
                    SGLANG_S3_ENDPOINT_URL=endpoint, SGLANG_S3_ACCESS_KEY_ID=TEST_KEY_ID,
                    SGLANG_S3_SECRET_ACCESS_KEY=TEST_SECRET, SGLANG_DIFFUSION_SERVER_DEV_MODE="true",
                    SGLANG_DIFFUSION_STAGE_LOGGING="true", SGLANG_KERNEL_API_LOGLEVEL="1",
                    SGLANG_KERNEL_API_LOGDEST=str(tmp_path / "kapi" / "calls-%i.log"))
    server = serve_process(env)
    status, answer = server.http("POST", "/v1/images/generations",
                                 {"prompt": "a red circle", "steps": 2, "perf_dump_path": "perf.json"})
    assert status == 200, answer
    _, settings = server.http("GET", "/dev/settings")
    _, last = server.http("GET", "/dev/last-request")
    assert server.stop() == 0

    assert settings["settings"]["SGLANG_S3_ENDPOINT_URL"] == endpoint.replace(PASSWORD, "********")
    assert answer["urls"] and all("********@" in url for url in answer["urls"].values())  # uploaded, URL masked
    shown = "\n".join(server.lines + server.err) + json.dumps([answer, settings, last])
    assert "Uploaded " in shown
    for secret in (PASSWORD, TEST_SECRET):
        assert secret not in shown
    (png,) = [Path(p) for p in answer["paths"]]
    chunk = json.loads(Image.open(png).text["settings"])  # type: ignore[attr-defined]
    assert chunk["SGLANG_S3_ENDPOINT_URL"] == endpoint.replace(PASSWORD, "********")

    written = list(tmp_path.rglob("*"))  # the server's cwd: everything in it was made by the backend
    files = [p for p in written if p.is_file()]
    assert {"perf.json", "performance.log", png.name} <= {p.name for p in files}
    assert any(p.parent.name == "kapi" for p in files)
    for path in files:
        data = path.read_bytes()
        assert PASSWORD.encode() not in data and TEST_SECRET.encode() not in data, path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in written:
        if path.is_dir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path

"""backend/artifacts/storage.py against a real S3-compatible HTTP server on loopback (tests/fixtures_s3.py)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from backend import envs
from backend.artifacts.storage import (
    TIMEOUT_VARIABLE,
    CloudStorage,
    StorageConfig,
    content_type_for,
    upload_timeout,
    validate_storage,
)
from backend.exit_codes import BackendError, ExitCode
from tests.fixtures_hostile import HostileServer
from tests.fixtures_s3 import S3Bucket, S3Credentials, s3_client, unused_loopback_port

SECRET = "Sup3rS3cretValue+ZZZ/abc123"
"""Distinctive enough that any leak into a log line or message is found by a substring search."""


def _settings(endpoint: str, bucket: str, key_id: str = "AKIDTEST", secret: str = SECRET) -> envs.Settings:
    return envs.load_settings({
        "SGLANG_CLOUD_STORAGE_TYPE": "s3", "SGLANG_S3_BUCKET_NAME": bucket, "SGLANG_S3_ENDPOINT_URL": endpoint,
        "SGLANG_S3_ACCESS_KEY_ID": key_id, "SGLANG_S3_SECRET_ACCESS_KEY": secret,
    })


def _output(tmp_path: Path, name: str = "a_red_circle_20261126-010203_0123abcd.png") -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(4096))
    return path


def _storage(settings: envs.Settings, **kwargs: Any) -> CloudStorage:
    storage = CloudStorage.from_settings(settings, sleep=lambda s: None, **kwargs)
    assert storage is not None
    return storage


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def _assert_no_secret(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], *more: object
) -> None:
    captured = capsys.readouterr()
    for text in (caplog.text, captured.out, captured.err, *map(str, more), *map(repr, more)):
        assert SECRET not in text


def test_upload_roundtrip(s3_bucket: S3Bucket, tmp_path: Path, backend_log: pytest.LogCaptureFixture,
                          capsys: pytest.CaptureFixture[str]) -> None:
    path = _output(tmp_path)
    storage = _storage(_settings(s3_bucket.endpoint, s3_bucket.name))
    result = storage.upload(path)
    assert result.ok and result.attempts == 1
    assert result.url == f"{s3_bucket.endpoint}/{s3_bucket.name}/{path.name}"
    assert f"Uploaded {path} to {result.url}" in backend_log.messages
    obj = s3_client(s3_bucket.endpoint).get_object(Bucket=s3_bucket.name, Key=path.name)
    assert obj["Body"].read() == path.read_bytes()
    assert obj["ContentType"] == "image/png"
    assert path.exists()  # unlike SGLang, the local file stays
    _assert_no_secret(backend_log, capsys, storage, result)


def test_server_down_is_one_unreachable_line(tmp_path: Path, backend_log: pytest.LogCaptureFixture,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    endpoint = f"http://127.0.0.1:{unused_loopback_port()}"
    path = _output(tmp_path)
    delays: list[float] = []
    storage = CloudStorage(validate_storage(_settings(endpoint, "outputs")),  # type: ignore[arg-type]
                           max_attempts=3, backoff_s=0.01, sleep=delays.append)
    report = storage.upload_all([path])
    (result,) = report.results
    assert not result.ok and result.kind == "unreachable" and result.code == "EndpointConnectionError"
    assert result.attempts == 3 and len(delays) == 2 and delays[1] > delays[0] / 2  # bounded backoff
    (line,) = _warnings(backend_log)
    assert "unreachable endpoint" in line and endpoint in line and str(path) in line
    assert path.exists()
    assert report.exit_code == ExitCode.UPLOAD_FAILED and report.error == line
    _assert_no_secret(backend_log, capsys, storage, result)


def test_missing_bucket_is_one_clear_line(s3_server: str, tmp_path: Path, backend_log: pytest.LogCaptureFixture,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = _output(tmp_path)
    result = _storage(_settings(s3_server, "no-such-bucket-here")).upload(path)
    assert result.kind == "no_such_bucket" and result.code == "NoSuchBucket" and result.attempts == 1
    (line,) = _warnings(backend_log)
    assert "bucket 'no-such-bucket-here' does not exist" in line and "NoSuchBucket" in line
    assert path.exists()
    _assert_no_secret(backend_log, capsys, result)


def test_a_failing_batch_is_one_line(s3_server: str, tmp_path: Path, backend_log: pytest.LogCaptureFixture) -> None:
    paths = [_output(tmp_path, f"img_{i}.png") for i in range(3)]
    report = _storage(_settings(s3_server, "no-such-bucket-here")).upload_all(paths)
    assert [r.attempts for r in report.results] == [1, 0, 0]  # the same cause is not retried per file
    assert {r.code for r in report.results} == {"NoSuchBucket"} and report.exit_code == ExitCode.UPLOAD_FAILED
    (line,) = _warnings(backend_log)
    assert "img_0.png and 2 more" in line and f"3 outputs not uploaded, all kept in {tmp_path}" in line
    assert all(p.exists() for p in paths)


@pytest.mark.parametrize("wrong", ["key_id", "secret"])
def test_wrong_credentials_are_one_clear_line(s3_bucket: S3Bucket, s3_auth: S3Credentials, wrong: str,
                                              tmp_path: Path, backend_log: pytest.LogCaptureFixture,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path = _output(tmp_path)
    key_id = "AKIDUNKNOWN0000" if wrong == "key_id" else s3_auth.access_key_id
    storage = _storage(_settings(s3_bucket.endpoint, s3_bucket.name, key_id=key_id, secret=SECRET))
    result = storage.upload(path)
    expected = "InvalidAccessKeyId" if wrong == "key_id" else "SignatureDoesNotMatch"
    assert result.kind == "credentials" and result.code == expected and result.attempts == 1
    (line,) = _warnings(backend_log)
    assert "credentials were rejected" in line and expected in line
    assert path.exists()
    _assert_no_secret(backend_log, capsys, storage, result)
    # The server really checks keys: the right pair is accepted.
    good = _storage(
        _settings(s3_bucket.endpoint, s3_bucket.name, s3_auth.access_key_id, s3_auth.secret_access_key)
    )
    assert good.upload(path).ok


def test_transient_errors_are_retried(tmp_path: Path, backend_log: pytest.LogCaptureFixture) -> None:
    from botocore.exceptions import ClientError

    class Flaky:
        calls = 0

        def put_object(self, **kwargs: Any) -> dict[str, Any]:
            Flaky.calls += 1
            if Flaky.calls < 3:
                raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow down"},
                                   "ResponseMetadata": {"HTTPStatusCode": 503}}, "PutObject")
            return {}

    config = StorageConfig("outputs", "http://127.0.0.1:9", access_key_id="AKID", secret_access_key=SECRET)
    result = CloudStorage(config, client=Flaky(), sleep=lambda s: None).upload(_output(tmp_path))
    assert result.ok and result.attempts == 3 and not _warnings(backend_log)


@pytest.mark.parametrize(("mode", "kind", "says"), [
    ("slow", "timeout", "no answer from"), ("drop", "dropped", "closed the connection during the upload")])
def test_stalled_or_dropping_endpoint_is_bounded_and_named(
    hostile_s3: dict[str, HostileServer], mode: str, kind: str, says: str, tmp_path: Path,
    backend_log: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    """A server that never answers costs the read timeout per attempt, one that drops mid-upload one
    connection per attempt; both stop the batch with one line, and every local file is kept."""
    server = hostile_s3[mode]
    paths = [_output(tmp_path, f"img_{i}.png") for i in range(2)]
    storage = _storage(_settings(server.endpoint, "outputs"), read_timeout_s=0.5, max_attempts=3)
    report = storage.upload_all(paths)
    first = report.results[0]
    assert first.kind == kind and 1 <= first.attempts <= 3 and report.results[1].attempts == 0
    assert server.connections == first.attempts  # botocore does not retry behind our back
    (line,) = _warnings(backend_log)
    assert says in line and server.endpoint in line and "2 outputs not uploaded, all kept" in line
    assert all(p.exists() and p.stat().st_size == 4096 for p in paths)
    assert report.exit_code == ExitCode.UPLOAD_FAILED
    _assert_no_secret(backend_log, capsys, storage, first)


def test_upload_timeout_knob() -> None:
    assert upload_timeout({}) == 30.0 and upload_timeout({TIMEOUT_VARIABLE: "2.5"}) == 2.5
    for bad in ("abc", "0", "-1", "nan", "inf", "99999"):
        with pytest.raises(BackendError) as info:
            upload_timeout({TIMEOUT_VARIABLE: bad})
        assert info.value.code == ExitCode.BAD_ENV and TIMEOUT_VARIABLE in info.value.message
        assert repr(bad) in info.value.message and "greater than 0" in info.value.message


def test_storage_on_without_bucket_fails_at_startup() -> None:
    settings = envs.load_settings({"SGLANG_CLOUD_STORAGE_TYPE": "s3", "SGLANG_S3_SECRET_ACCESS_KEY": SECRET})
    with pytest.raises(BackendError) as info:
        validate_storage(settings)
    assert info.value.code == ExitCode.BAD_ENV
    assert "SGLANG_S3_BUCKET_NAME" in str(info.value) and SECRET not in str(info.value)
    assert validate_storage(envs.load_settings({})) is None
    lone = {
        "SGLANG_CLOUD_STORAGE_TYPE": "s3",
        "SGLANG_S3_BUCKET_NAME": "bkt",
        "SGLANG_S3_SECRET_ACCESS_KEY": SECRET,
    }
    with pytest.raises(BackendError) as info:
        validate_storage(envs.load_settings(lone))
    assert "SGLANG_S3_SECRET_ACCESS_KEY is set without SGLANG_S3_ACCESS_KEY_ID" in str(info.value)
    assert SECRET not in str(info.value)


def test_url_and_content_type_as_sglang() -> None:
    aws = StorageConfig("bucket", region="eu-west-1")
    assert aws.object_url("x.png") == "https://bucket.s3.eu-west-1.amazonaws.com/x.png"
    assert StorageConfig("b", "http://minio:9000/").object_url("v.mp4") == "http://minio:9000/b/v.mp4"
    assert [content_type_for(n) for n in ("a.PNG", "b.jpeg", "c.webp", "d.mp4", "e.glb", "f.bin")] == [
        "image/png",
        "image/jpeg",
        "image/webp",
        "video/mp4",
        "model/gltf-binary",
        "application/octet-stream",
    ]
    assert SECRET not in repr(StorageConfig("b", secret_access_key=SECRET, access_key_id="AKID"))

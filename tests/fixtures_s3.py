"""A real S3-compatible HTTP server on loopback (moto's server mode) for the storage tests.

Why moto's ``ThreadedMotoServer`` and not ``mock_aws``: the code under test must speak real HTTP
through botocore (signing, retries, connection errors), exactly as against MinIO or AWS.  It binds
127.0.0.1 on a free port (the default would be 0.0.0.0:5000) and starts in milliseconds.

Credentials: moto accepts any key until IAM checks are switched on.  ``s3_auth`` creates an IAM user
with an access key and an S3 policy, then switches checks on through moto's
``/moto-api/reset-auth`` endpoint (the server-mode twin of ``INITIAL_NO_AUTH_ACTION_COUNT=0``), and
switches them off again afterwards, since the server is shared by the whole session.
"""

from __future__ import annotations

import json
import logging
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

TEST_KEY_ID = "AKIDTESTFIXTURE"
TEST_SECRET = "fixture-secret-not-used-for-auth"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Bucket:
    endpoint: str
    name: str


@dataclass(frozen=True)
class S3Credentials:
    access_key_id: str
    secret_access_key: str


def s3_client(
    endpoint: str, key_id: str = TEST_KEY_ID, secret: str = TEST_SECRET, service: str = "s3"
) -> Any:
    """A boto3 client for the test server (no retries: a test failure should be quick and plain)."""
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id=key_id,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 1}))


def unused_loopback_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """Start moto's S3-compatible server on 127.0.0.1:<free port>; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture()
def s3_bucket(s3_server: str) -> S3Bucket:
    """A fresh, empty bucket on the test server."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    s3_client(s3_server).create_bucket(Bucket=name)
    return S3Bucket(s3_server, name)


def _set_auth(endpoint: str, initial_no_auth_count: str) -> None:
    # text/plain: urllib's default form content type would make Flask swallow the body.
    request = urllib.request.Request(f"{endpoint}/moto-api/reset-auth", data=initial_no_auth_count.encode(),
                                     headers={"Content-Type": "text/plain"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        response.read()


@pytest.fixture()
def s3_auth(s3_bucket: S3Bucket) -> Iterator[S3Credentials]:
    """Real credential checks on the server for one test; yields a key that is allowed to use S3."""
    iam = s3_client(s3_bucket.endpoint, service="iam")
    user = f"uploader-{uuid.uuid4().hex[:8]}"
    iam.create_user(UserName=user)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName=user, PolicyName="s3-all", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName=user)["AccessKey"]
    _set_auth(s3_bucket.endpoint, "0")
    try:
        yield S3Credentials(key["AccessKeyId"], key["SecretAccessKey"])
    finally:
        _set_auth(s3_bucket.endpoint, "inf")

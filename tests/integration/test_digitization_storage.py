"""Content-addressed storage behind one interface, on a local directory and on a real
S3-compatible server (moto in server mode, its own process, started here): the same bytes
are stored once under their SHA-256; the service configured for S3 serves and verifies a
document it signed from there."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import img2pdf
import pytest
from pydantic import SecretStr

from deploy.local.broker import free_port
from services.digitization.app import build
from services.digitization.settings import DigitizationSettings
from services.digitization.storage import BlobStore, LocalStore, S3Store
from tests.auth import AUTH
from tests.integration.support import eventually, settings_for, started
from tests.integration.test_digitization_scan import png

pytestmark = pytest.mark.integration
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


@pytest.fixture(scope="module")
def s3_url() -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                               "-p", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        def listens() -> bool:
            assert server.poll() is None, "moto exited"
            with socket.create_connection(("127.0.0.1", port), 1):
                return True
        asyncio.run(eventually(listens, "moto to listen", seconds=30))
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(10)


def s3_client(url: str) -> object:
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", **KEYS)


async def check_store(store: BlobStore) -> str:
    one, two = b"%PDF-1.7 first", b"%PDF-1.7 second"
    digest, new = await store.put(one)
    assert digest == hashlib.sha256(one).hexdigest() and new is True
    assert await store.put(one) == (digest, False)  # the same bytes: stored once
    other, new = await store.put(two)
    assert other != digest and new is True
    assert await store.get(digest) == one and await store.get(other) == two
    assert await store.get("0" * 64) is None
    with pytest.raises(ValueError):
        await store.get("../../etc/passwd")
    return digest


async def test_local_directory(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "docs")
    digest = await check_store(store)
    files = [p for p in (tmp_path / "docs").rglob("*") if p.is_file()]
    assert len(files) == 2 and store.path(digest) in files


async def test_s3_compatible_server(s3_url: str) -> None:
    store = S3Store("unit-bucket", "documents/", endpoint_url=s3_url, region_name="us-east-1",
                    **KEYS)
    store.ensure_bucket()
    store.ensure_bucket()  # twice is fine
    digest = await check_store(store)
    listed = s3_client(s3_url).list_objects_v2(Bucket="unit-bucket")  # type: ignore[attr-defined]
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(
        [f"documents/{digest}", f"documents/{hashlib.sha256(b'%PDF-1.7 second').hexdigest()}"])


async def test_the_service_keeps_signed_documents_in_s3(
        kafka_bootstrap: str, s3_url: str, tmp_path: Path) -> None:
    settings = settings_for(DigitizationSettings, kafka_bootstrap,
                            f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", tmp_path)
    settings.storage, settings.s3_endpoint_url, settings.s3_bucket = "s3", s3_url, "onestop"
    settings.s3_region, settings.s3_create_bucket, settings.workers = "us-east-1", True, 0
    settings.s3_access_key_id = SecretStr(KEYS["aws_access_key_id"])
    settings.s3_secret_access_key = SecretStr(KEYS["aws_secret_access_key"])
    runtime = build(settings)
    runtime.subscriptions = []  # only HTTP and storage are under test
    await started(runtime)
    try:
        async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://digitization") as http:
            signed = await http.post("/api/v1/sign", content=img2pdf.convert(png()),
                                     headers={"content-type": "application/pdf"})
            assert signed.status_code == 201, signed.text
            doc = signed.json()
            key = f"documents/{doc['sha256']}"
            body = s3_client(s3_url).get_object(Bucket="onestop", Key=key)  # type: ignore[attr-defined]
            served = await http.get(f"/api/v1/documents/{doc['document_id']}")
            assert served.content == body["Body"].read()
            verdict = (await http.get(f"/api/v1/documents/{doc['document_id']}/verify")).json()
            assert verdict["valid"] is True and verdict["sha256"] == doc["sha256"]
    finally:
        await runtime.stop()
    assert not (tmp_path / "documents").exists()  # nothing went to the local directory

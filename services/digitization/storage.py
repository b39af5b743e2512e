"""Content-addressed storage of document bytes: the key is the SHA-256 of the bytes, so the
same bytes are stored once and whatever is read back can be checked against its name. One
interface; a local directory by default, S3-compatible storage by settings."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class BlobStore(Protocol):
    async def put(self, data: bytes) -> tuple[str, bool]:
        """The bytes' SHA-256, and whether they were new (False: held already)."""
        ...

    async def get(self, digest: str) -> bytes | None: ...


def _checked(digest: str) -> str:
    # The key is always a digest this service computed; anything else is a bug or a probe.
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a SHA-256 digest: {digest[:80]!r}")
    return digest


class LocalStore:
    """Files under root/ab/cd/<digest>; written aside and renamed, so a reader never sees
    half a file and two writers of the same bytes both succeed."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        d = _checked(digest)
        return self.root / d[:2] / d[2:4] / d

    def _put(self, digest: str, data: bytes) -> bool:
        path = self.path(digest)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def _get(self, digest: str) -> bytes | None:
        try:
            return self.path(digest).read_bytes()
        except FileNotFoundError:
            return None

    async def put(self, data: bytes) -> tuple[str, bool]:
        digest = sha256(data)
        return digest, await asyncio.to_thread(self._put, digest, data)

    async def get(self, digest: str) -> bytes | None:
        return await asyncio.to_thread(self._get, digest)


class S3Store:
    """An S3-compatible bucket (AWS, MinIO, Ceph...): objects named prefix + digest. boto3 is
    blocking, so each call runs in a thread."""

    def __init__(self, bucket: str, prefix: str = "", **client_args: Any) -> None:
        import boto3  # only when S3 is configured

        self.bucket = bucket
        self.prefix = prefix
        self.client = boto3.client("s3", **client_args)

    def key(self, digest: str) -> str:
        return f"{self.prefix}{_checked(digest)}"

    def _missing(self, exc: Exception) -> bool:
        code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def _put(self, digest: str, data: bytes) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.key(digest))
            return False
        except Exception as exc:
            if not self._missing(exc):
                raise
        self.client.put_object(Bucket=self.bucket, Key=self.key(digest), Body=data,
                               ContentType="application/pdf",
                               ChecksumAlgorithm="SHA256")
        return True

    def _get(self, digest: str) -> bytes | None:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self.key(digest))
        except Exception as exc:
            if self._missing(exc):
                return None
            raise
        return bytes(answer["Body"].read())

    def ensure_bucket(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if not self._missing(exc):
                raise
            self.client.create_bucket(Bucket=self.bucket)

    async def put(self, data: bytes) -> tuple[str, bool]:
        digest = sha256(data)
        return digest, await asyncio.to_thread(self._put, digest, data)

    async def get(self, digest: str) -> bytes | None:
        return await asyncio.to_thread(self._get, digest)

"""Scanning, signing and verifying off the event loop: a process pool sized by a setting
(0: threads of this process), so the consumer and HTTP keep answering while pages are
converted and signed. The jobs are plain functions over bytes, so they cross processes."""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from services.digitization.pages import BadScan, ImageLimits, to_pdf
from services.digitization.signing import (
    KeyFile,
    Signed,
    Verdict,
    load_signer,
    sign,
    verify,
)

T = TypeVar("T")


@dataclass(frozen=True)
class SignedScan:
    signed: Signed
    pages: int


def scan_and_sign(files: list[bytes], key: KeyFile, reason: str, location: str,
                  limits: ImageLimits | int) -> SignedScan:
    """Pages (images, or one PDF) into one PDF, signed: BadScan when they cannot be read
    or the PDF given cannot be signed (its structure, never the key: SigningKeyError);
    ImageTooLarge when its pictures would take too much memory once decoded."""
    scan = to_pdf(files, limits)
    signer = load_signer(key)
    try:
        return SignedScan(sign(scan.pdf, signer, reason, location), scan.pages)
    except Exception as exc:
        raise BadScan(0, f"the PDF cannot be signed: {exc!r}"[:300]) from exc


def verify_pdf(pdf: bytes, roots: tuple[str, ...]) -> Verdict:
    return verify(pdf, roots)


class Workers:
    def __init__(self, processes: int) -> None:
        self.processes = processes
        self._executor: Executor | None = None

    def _pool(self) -> Executor:
        # Made on first use: a service that never scans starts no processes. "spawn": the
        # children must not inherit the parent's event loop, sockets or threads.
        if self._executor is None:
            self._executor = (ProcessPoolExecutor(
                self.processes, mp_context=multiprocessing.get_context("spawn"))
                if self.processes > 0 else ThreadPoolExecutor(4, "digitization"))
        return self._executor

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool(), fn, *args)
        except BrokenProcessPool:
            # A worker died (killed, out of memory): the pool is unusable from then on, so
            # a new one takes over and the job runs once more.
            self.shutdown(wait=False)
            return await loop.run_in_executor(self._pool(), fn, *args)

    def shutdown(self, wait: bool = True) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)
            self._executor = None

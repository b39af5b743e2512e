"""The signed files digitization owns: made from scans (or given PDFs), signed with the key
of whoever signs (keys.py), stored by content, served and verified. The heavy work runs in
the worker pool; this module only orders it and builds the rows the repository writes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.common.observability.logs import get_logger
from services.digitization import domain
from services.digitization.keys import Keyring
from services.digitization.pages import BadScan, ImageLimits
from services.digitization.signing import KeyFile, Verdict
from services.digitization.storage import BlobStore, sha256
from services.digitization.workers import SignedScan, Workers, scan_and_sign, verify_pdf

log = get_logger(__name__)
# extract(signed_pdf, component_code, declared) -> fields to add to ComponentDigitized, or
# None; `declared` is the applicant's declared identity (a plain dict, it crosses processes)
# or None. Runs in the worker pool, so it must be a plain module-level function
# (services.digitization.ocr.event_fields).
Extractor = Callable[[bytes, str, dict[str, Any] | None], dict[str, Any] | None]
_VERDICT_TTL = 300.0  # seconds a verdict on the same bytes is reused (a warehouse listing)
_VERDICTS_KEPT = 10_000


@dataclass(frozen=True)
class Made:
    row: dict[str, Any]  # the files row
    pdf: bytes
    office: str | None = None  # the signer's office, as their certificate names it


class Documents:
    def __init__(self, store: BlobStore, workers: Workers, keys: Keyring,
                 roots: tuple[str, ...], location: str, limits: ImageLimits,
                 extractor: Extractor | None = None) -> None:
        self.store = store
        self.workers = workers
        self.keys = keys
        self.roots = roots
        self.location = location
        self.limits = limits
        self.extractor = extractor
        self._verdicts: OrderedDict[str, tuple[float, Verdict]] = OrderedDict()

    async def make(self, files: list[bytes], key: KeyFile, kind: str, reason: str,
                   document_type: str | None, now: datetime, *, dossier_code: str | None,
                   agency_code: str | None, field: str | None = None) -> Made:
        """Pages into one signed PDF, stored: BadScan (from the pool) when they cannot be
        read, naming `field` when the request gave the file as one (the body). Stored
        before the database row is written: a crash in between leaves bytes no row names,
        never a row without bytes. The row keeps the dossier and agency the file belongs
        to: who may read it follows from them."""
        try:
            made: SignedScan = await self.workers.run(
                scan_and_sign, files, key, reason, self.location, self.limits)
        except BadScan as exc:
            if field is None:
                raise
            raise exc.named(field) from exc
        pdf = made.signed.pdf
        digest, _new = await self.store.put(pdf)
        return Made({"id": domain.document_id(digest), "sha256": digest, "size": len(pdf),
                     "pages": made.pages, "signer": made.signed.signer,
                     "signed_at": made.signed.signed_at, "kind": kind,
                     "document_type": document_type, "created_at": now,
                     "dossier_code": dossier_code, "agency_code": agency_code}, pdf,
                    made.signed.office)

    async def extract(self, pdf: bytes, component: str,
                      declared: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Fields read from the scan (OCR), checked against what the applicant declared: a
        help to the officer, never a condition, so a failure to read is logged and the
        component is digitized without them."""
        if self.extractor is None:
            return None
        try:
            return await self.workers.run(self.extractor, pdf, component, declared)
        except Exception as exc:
            log.warning("extraction failed; digitized without extracted fields",
                        component=component, error=repr(exc)[:300])
            return None

    async def content(self, row: dict[str, Any]) -> bytes | None:
        return await self.store.get(row["sha256"])

    async def verify_bytes(self, pdf: bytes) -> Verdict:
        digest = sha256(pdf)
        kept = self._verdicts.get(digest)
        if kept is not None and time.monotonic() - kept[0] < _VERDICT_TTL:
            return kept[1]
        verdict = await self.workers.run(verify_pdf, pdf, self.roots)
        self._verdicts[digest] = (time.monotonic(), verdict)
        while len(self._verdicts) > _VERDICTS_KEPT:
            self._verdicts.popitem(last=False)
        return verdict

    async def verify_stored(self, row: dict[str, Any]) -> dict[str, Any]:
        """The stored bytes against the digest they were stored under, and their signature."""
        pdf = await self.content(row)
        if pdf is None:
            return {"document_id": row["id"], "signed": True, "valid": False, "intact": False,
                    "trusted": False, "signer": row["signer"], "signed_at": None,
                    "reason": "the stored file is missing", "signer_office": None,
                    "signing_reason": None, "signing_location": None, "sha256": row["sha256"]}
        verdict = (await self.verify_bytes(pdf)).as_dict()
        if sha256(pdf) != row["sha256"]:
            verdict |= {"valid": False, "intact": False,
                        "reason": "the stored bytes differ from the bytes signed"}
        return {"document_id": row["id"], **verdict, "sha256": row["sha256"],
                "pages": row["pages"], "size": row["size"]}

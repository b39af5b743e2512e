"""Composition of the digitization service: runtime, keys, storage, workers, use cases,
routes."""

from __future__ import annotations

import importlib
from functools import partial
from typing import Any

from contracts.events import (
    ApplicantRecorded,
    DossierReceived,
    ResultIssued,
    SupplementReceived,
)
from services.common.consumer import Batched
from services.common.ratelimit import RateLimit
from services.common.runtime import Runtime
from services.common.telemetry import get_logger
from services.digitization import tables
from services.digitization.api import router
from services.digitization.documents import Documents, Extractor
from services.digitization.handlers import Digitizer
from services.digitization.pki import ca_cert_path, ensure_dev_pki
from services.digitization.settings import DigitizationSettings
from services.digitization.signing import KeyFile
from services.digitization.storage import BlobStore, LocalStore, S3Store
from services.digitization.uploads import UploadLimits
from services.digitization.workers import Workers
from services.law.catalog import AgencyScope, load_catalogs

log = get_logger(__name__)


def signing_keys(settings: DigitizationSettings) -> tuple[dict[str, KeyFile], tuple[str, ...]]:
    """Officer keys and trusted roots from settings; when they are not configured (or their
    files are missing) and dev PKI is allowed, the development CA's, made on first run."""
    keys, roots = dict(settings.officer_keys), list(settings.trust_roots)
    missing = (not keys or any(not p.exists() for p in keys.values())
               or not roots or any(not p.exists() for p in roots))
    if missing and settings.dev_pki:
        made = ensure_dev_pki(settings.var_dir)
        keys = keys if keys and all(p.exists() for p in keys.values()) else dict(made)
        roots = [ca_cert_path(settings.var_dir)]
        log.info("development PKI in use", officers=sorted(keys), ca=str(roots[0]))
    passphrase = settings.officer_key_passphrase.get_secret_value()
    return ({officer: KeyFile(str(path), passphrase) for officer, path in keys.items()},
            tuple(str(p) for p in roots))


def blob_store(settings: DigitizationSettings) -> BlobStore:
    if settings.storage == "s3":
        secret = settings.s3_secret_access_key
        store = S3Store(
            settings.s3_bucket, settings.s3_prefix, endpoint_url=settings.s3_endpoint_url,
            region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id.get_secret_value()
            if settings.s3_access_key_id else None,
            aws_secret_access_key=secret.get_secret_value() if secret else None)
        if settings.s3_create_bucket:
            store.ensure_bucket()
        return store
    return LocalStore(settings.storage_dir or settings.var_dir / "documents")


def extractor() -> Extractor | None:
    """OCR's seam: `services.digitization.ocr.event_fields(pdf, component_code, declared)`
    when it is there (the fields it adds to ComponentDigitized); scans are signed and
    recorded without extracted fields otherwise."""
    try:
        found = getattr(importlib.import_module("services.digitization.ocr"), "event_fields",
                        None)
    except ImportError:
        return None
    return found if callable(found) else None


def build(settings: Any = None) -> Runtime:
    settings = settings or DigitizationSettings()
    json_limit = settings.http_max_body_bytes
    # The runtime's limit is the largest body any route takes (a scan); UploadLimits holds
    # every other route to the JSON limit.
    runtime = Runtime.create(
        "digitization", settings.model_copy(update={
            "http_max_body_bytes": max(json_limit, settings.scan_max_bytes)}),
        tables, "Digitization — số hóa hồ sơ", router)
    runtime.agency_tree(partial(AgencyScope.of, load_catalogs()))
    runtime.app.add_middleware(UploadLimits, json_max_bytes=json_limit,
                               upload_max_bytes=settings.scan_max_bytes)
    keys, roots = signing_keys(settings)
    workers = Workers(settings.workers)
    digitizer = Digitizer(runtime.outbox)
    runtime.handle(dict.fromkeys((DossierReceived, SupplementReceived, ResultIssued,
                                  ApplicantRecorded), Batched(digitizer.apply_batch)))
    runtime.app.state.digitizer = digitizer
    runtime.app.state.public_verifications = RateLimit(settings.public_verifications_per_minute)
    runtime.app.state.documents = Documents(
        blob_store(settings), workers, keys, roots, settings.sign_location,
        settings.scan_max_pixels, extractor() if settings.extract_fields else None)
    stop = runtime.stop

    async def stop_with_workers() -> None:
        await stop()
        workers.shutdown()

    runtime.stop = stop_with_workers  # type: ignore[method-assign]
    return runtime

"""Composition of the digitization service: runtime, keys, storage, workers, use cases (the
consumer's in handlers.py, the HTTP API's in desk.py), routes."""

from __future__ import annotations

import importlib
from functools import partial
from pathlib import Path
from typing import Any

from contracts.events import (
    ApplicantRecorded,
    DossierReceived,
    ResultIssued,
    SupplementReceived,
)
from services.common.http.ratelimit import RateLimit
from services.common.messaging.consumer import Batched
from services.common.observability.logs import get_logger
from services.common.runtime import Runtime
from services.digitization import tables
from services.digitization.api import router
from services.digitization.desk import Desk
from services.digitization.documents import Documents, Extractor
from services.digitization.handlers import Digitizer
from services.digitization.keys import Keyring, Minter
from services.digitization.pki import ensure_dev_ca, ensure_holder_key
from services.digitization.settings import DigitizationSettings
from services.digitization.signing import KeyFile
from services.digitization.storage import BlobStore, LocalStore, S3Store
from services.digitization.uploads import UploadLimits
from services.digitization.workers import Workers
from services.law.catalog import AgencyScope, CatalogSet, load_catalogs
from services.product.roles import ROLE_PERMISSIONS

log = get_logger(__name__)


def signing_keys(settings: DigitizationSettings, catalogs: CatalogSet
                 ) -> tuple[Keyring, tuple[str, ...]]:
    """The keys of people and offices and the trusted roots, from settings; with dev PKI
    (development only), a development CA under var/pki that mints a missing person's or
    office's key on its first signature, and is trusted."""
    passphrase = settings.officer_key_passphrase.get_secret_value()

    def files(named: dict[str, Path]) -> dict[str, KeyFile]:
        return {holder: KeyFile(str(path), passphrase) for holder, path in named.items()}

    roots = [str(p) for p in settings.trust_roots]
    mint: Minter | None = None
    if settings.dev_pki:
        var_dir = settings.var_dir
        mint = partial(ensure_holder_key, var_dir, passphrase=passphrase)
        roots.append(str(ensure_dev_ca(var_dir)))
        log.info("development PKI in use: missing keys are minted", ca=roots[-1])
    return Keyring(files(settings.officer_keys), files(settings.office_keys),
                   partial(_office_name, catalogs), passphrase, mint), tuple(roots)


def _office_name(catalogs: CatalogSet, code: str) -> str | None:
    """An agency's name in the newest version of the catalogue that knows it."""
    for index in reversed(catalogs.indexes):
        agency = index.agency(code)
        if agency is not None:
            return agency.name
    return None


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
        tables, "Digitization — số hóa hồ sơ", router, grants=ROLE_PERMISSIONS)
    catalogs = load_catalogs()
    runtime.agency_tree(partial(AgencyScope.of, catalogs))
    runtime.app.add_middleware(UploadLimits, json_max_bytes=json_limit,
                               upload_max_bytes=settings.scan_max_bytes)
    keys, roots = signing_keys(settings, catalogs)
    workers = Workers(settings.workers)
    digitizer = Digitizer(runtime.outbox)
    runtime.handle(dict.fromkeys((DossierReceived, SupplementReceived, ResultIssued,
                                  ApplicantRecorded), Batched(digitizer.apply_batch)))
    runtime.app.state.digitizer = digitizer
    runtime.app.state.public_verifications = RateLimit(settings.public_verifications_per_minute)
    documents = Documents(
        blob_store(settings), workers, keys, roots, settings.sign_location,
        settings.image_limits, extractor() if settings.extract_fields else None)
    runtime.app.state.documents = documents
    runtime.app.state.desk = Desk(runtime, digitizer, documents)
    stop = runtime.stop

    async def stop_with_workers() -> None:
        await stop()
        workers.shutdown()

    runtime.stop = stop_with_workers  # type: ignore[method-assign]
    return runtime

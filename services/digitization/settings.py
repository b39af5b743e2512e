"""Settings of the digitization service: the shared ones, read with its own prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from services.common.settings import ServiceSettings, prefixed
from services.digitization.pki import DEV_PASSPHRASE

MiB = 1024 * 1024


class DigitizationSettings(ServiceSettings):
    model_config = prefixed("DIGITIZATION_")

    http_port: int = 8002
    # The public verification routes (the link printed on a result), per client address.
    public_verifications_per_minute: float = 30.0

    # --- scans (Decision 1333, step 3(1)) ---
    # One scan or /sign request body (every page together), refused before it is read
    # whole: by Content-Length, then by counting a streamed body. 25 MiB (confirm).
    scan_max_bytes: int = 25 * MiB
    scan_max_files: int = 200  # page images in one scan
    scan_max_pixels: int = 100_000_000  # per image once decoded (a small file can lie)

    # --- signing keys: PKCS#12 files, one per officer ---
    # officer id -> PKCS#12 file; empty: the development officers of pki.py under var/pki.
    officer_keys: dict[str, Path] = Field(default_factory=dict)
    officer_key_passphrase: SecretStr = SecretStr(DEV_PASSPHRASE)
    # Who signs scans when the request names nobody, and who signs /sign's results.
    default_officer: str = "tnhs-01"
    result_officer: str = "ketqua-01"
    # PEM certificates a signature must chain to; empty: the development CA.
    trust_roots: list[Path] = Field(default_factory=list)
    # Make a development CA and officer keys under var/pki when the keys are missing.
    dev_pki: bool = True
    sign_location: str = "Việt Nam"

    # --- workers: scanning and signing run off the event loop ---
    # Processes of the pool; 0 runs them in threads of this process instead.
    workers: int = 2
    # Fields read from a scanned form (OCR, services/digitization/ocr) added to its event.
    extract_fields: bool = True

    # --- storage of document bytes, content-addressed ---
    storage: Literal["local", "s3"] = "local"
    storage_dir: Path | None = None  # default <var>/documents
    s3_bucket: str = "onestop-documents"
    s3_prefix: str = "documents/"
    s3_endpoint_url: str | None = None  # MinIO, Ceph...; unset: AWS
    s3_region: str = "ap-southeast-1"
    s3_access_key_id: SecretStr | None = None  # unset: boto3's own chain (env, role...)
    s3_secret_access_key: SecretStr | None = None
    s3_create_bucket: bool = False

    # Public base of verification links (what a result's QR code points at).
    public_url: str = "http://127.0.0.1:8002"

    @model_validator(mode="after")
    def _no_dev_pki_in_production(self) -> DigitizationSettings:
        if self.env == "production" and (self.dev_pki or not self.officer_keys
                                         or not self.trust_roots):
            raise ValueError("production needs DIGITIZATION_OFFICER_KEYS and "
                             "DIGITIZATION_TRUST_ROOTS, and DIGITIZATION_DEV_PKI=false")
        return self

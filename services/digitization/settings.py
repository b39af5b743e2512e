"""Settings of the digitization service: the shared ones, read with its own prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from services.common.settings import ServiceSettings, prefixed
from services.digitization.pages import ImageLimits
from services.digitization.pki import DEV_PASSPHRASE

MiB = 1024 * 1024
_IMAGES = ImageLimits()


class DigitizationSettings(ServiceSettings):
    model_config = prefixed("DIGITIZATION_")

    http_port: int = 8002
    # The public verification routes (the link printed on a result), per client address.
    public_verifications_per_minute: float = 30.0

    # --- scans (Decision 1333, step 3(1)) ---
    # One scan or /sign request body (every page together), refused before it is read
    # whole: by Content-Length, then by counting a streamed body. 25 MiB (confirm).
    scan_max_bytes: int = 25 * MiB
    scan_max_files: int = 200  # page images in one scan (and pages of one file)
    # What the pictures of a scan may take once decoded, told from their headers before
    # any is decoded (a small file can declare a huge canvas): pixels of one picture, bytes
    # of one page (width x height x bytes per pixel of its mode), bytes of the whole upload.
    scan_max_pixels: int = _IMAGES.pixels
    scan_max_decoded_page_bytes: int = _IMAGES.page_bytes
    scan_max_decoded_bytes: int = _IMAGES.upload_bytes

    # --- signing keys: PKCS#12 files; the key follows the caller's token (keys.py) ---
    # A person's token subject (`sub`) -> their PKCS#12: what they sign, they sign with it.
    officer_keys: dict[str, Path] = Field(default_factory=dict)
    # An agency code -> its office's seal: results a service issues for the office's dossiers.
    office_keys: dict[str, Path] = Field(default_factory=dict)
    officer_key_passphrase: SecretStr = SecretStr(DEV_PASSPHRASE)
    # Who signs a scanned component: the counter officer (their own key) or the office of
    # their agency (its seal).
    scan_signed_by: Literal["officer", "office"] = "officer"
    # PEM certificates a signature must chain to; the development CA is added with dev_pki.
    trust_roots: list[Path] = Field(default_factory=list)
    # Development: a CA under var/pki, which mints a person's or office's key on its first
    # signature when settings name none.
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

    @property
    def image_limits(self) -> ImageLimits:
        return ImageLimits(self.scan_max_pixels, self.scan_max_decoded_page_bytes,
                           self.scan_max_decoded_bytes, self.scan_max_files)

    @model_validator(mode="after")
    def _no_dev_pki_in_production(self) -> DigitizationSettings:
        keys = self.officer_keys or self.office_keys
        if self.env == "production" and (self.dev_pki or not keys or not self.trust_roots):
            raise ValueError("production needs DIGITIZATION_OFFICER_KEYS or "
                             "DIGITIZATION_OFFICE_KEYS, DIGITIZATION_TRUST_ROOTS, and "
                             "DIGITIZATION_DEV_PKI=false")
        return self

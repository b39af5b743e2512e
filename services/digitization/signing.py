"""PAdES signatures with pyHanko: sign a PDF with an officer's PKCS#12, the visible box at
the top-left corner of page 1 (Decision 1333, step 3(1)); verify one against the trusted
roots. Pure functions over bytes and key files, run in the worker pool; each process loads
a key or font once."""

from __future__ import annotations

import functools
import io
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.content import ImportedPdfPage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import (
    AxisAlignment,
    BoxConstraints,
    InnerScaling,
    Margins,
    SimpleBoxLayoutRule,
)
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import get_pyca_cryptography_hash
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import ValidationContext
from reportlab.pdfgen.canvas import Canvas

from services.common.pdf import FONT_BOLD, FONT_LOCK, FONT_REGULAR, ensure_fonts
from services.digitization.pages import first_page_box

FIELD = "ChuKySo1"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
# The box, in points, shrunk on pages too small for it; MARGIN from the page's corner.
BOX_W, BOX_H, MARGIN = 200.0, 56.0, 14.0
RESERVED = 16384  # bytes for the signature container


@dataclass(frozen=True)
class KeyFile:
    path: str
    passphrase: str


@dataclass(frozen=True)
class Signed:
    pdf: bytes
    signer: str
    signed_at: datetime
    office: str | None = None  # the certificate's organisation: the signer's office


@dataclass(frozen=True)
class Verdict:
    signed: bool
    valid: bool
    intact: bool
    trusted: bool
    signer: str | None
    signed_at: datetime | None
    reason: str
    # Who signed, as the signature says: the certificate's organisation (the office), and
    # the signature's own reason (what was signed, for which dossier, who decided) and place.
    signer_office: str | None = None
    signing_reason: str | None = None
    signing_location: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["signed_at"] = self.signed_at.isoformat() if self.signed_at else None
        return out


class _KeptKeySigner(signers.SimpleSigner):
    """pyHanko's signer parses the private key again for every signature (twice, with the
    size estimate: half the time of a signature); this one parses it once per process."""

    _key: Any = None

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm).signature_algo
        if mechanism != "rsassa_pkcs1v15":
            return super().sign_raw(data, digest_algorithm)
        if self._key is None:
            self._key = serialization.load_der_private_key(self.signing_key.dump(), None)
        return self._key.sign(data, PKCS1v15(), get_pyca_cryptography_hash(digest_algorithm))


class SigningKeyError(RuntimeError):
    """The officer's key cannot be loaded: the service's configuration, not the document."""


@functools.lru_cache(maxsize=256)  # keys follow their signers: one per person or office
def _signer(path: str, passphrase: str, mtime: float) -> signers.SimpleSigner:
    loaded = signers.SimpleSigner.load_pkcs12(path, passphrase=passphrase.encode())
    if loaded is None:
        raise SigningKeyError(f"cannot load the signing key {path}")
    return _KeptKeySigner(signing_cert=loaded.signing_cert, signing_key=loaded.signing_key,
                          cert_registry=loaded.cert_registry,
                          signature_mechanism=loaded.signature_mechanism)


class _PdfBytesPage(ImportedPdfPage):
    """pyHanko's imported page, from bytes rather than a file."""

    def __init__(self, pdf: bytes) -> None:
        super().__init__("")
        self.pdf = pdf

    def render(self) -> bytes:
        xobj = self._ensure_writer.import_page_as_xobject(
            PdfFileReader(io.BytesIO(self.pdf)), page_ix=0)
        name = "/ImportStamp"
        self.resources.xobject[name] = xobj
        x1, y1, x2, y2 = xobj.get_object()["/BBox"]
        self.box = BoxConstraints(width=abs(x1 - x2), height=abs(y1 - y2))
        return name.encode() + b" Do"


# Drawing turned against the page's /Rotate, so the text reads upright on screen:
# rotation -> (translate x, translate y as shares of the box's width and height, degrees).
_UPRIGHT = {0: (0, 0, 0), 90: (1, 0, 90), 180: (1, 1, 180), 270: (0, 1, 270)}


def _appearance(w: float, h: float, signer: str, at: datetime, rotate: int) -> bytes:
    """The box's face (w x h in the page's own coordinates), drawn by reportlab in DejaVu
    Sans (a TrueType subset, so Vietnamese diacritics show): pyHanko's own text layout
    spaces shaped glyphs wrongly, and its font subsetting costs a quarter of a second per
    signature."""
    ensure_fonts()
    out = io.BytesIO()
    c = Canvas(out, pagesize=(w, h))
    tx, ty, degrees = _UPRIGHT.get(rotate, (0, 0, 0))
    c.translate(tx * w, ty * h)
    c.rotate(degrees)
    if rotate in (90, 270):
        w, h = h, w  # from here on, the box as a reader sees it
    size = max(4.0, h / 6.2)
    c.setFont(FONT_BOLD, size)
    c.setFillColorRGB(0.75, 0.0, 0.0)
    c.drawString(size * 0.6, h - size * 1.5, "Đã ký số")
    c.setFillColorRGB(0, 0, 0)
    c.setFont(FONT_REGULAR, size * 0.9)
    c.drawString(size * 0.6, h - size * 2.9, f"Người ký: {signer}"[:60])
    c.drawString(size * 0.6, h - size * 4.2, "Thời gian: " + at.strftime("%d/%m/%Y %H:%M:%S"))
    c.drawString(size * 0.6, h - size * 5.5, "(giờ Việt Nam, GMT+7)")
    c.showPage()
    with FONT_LOCK:
        c.save()  # where the fonts are subset
    return out.getvalue()


def _style(face: bytes) -> TextStampStyle:
    return TextStampStyle(stamp_text="", border_width=1, background=_PdfBytesPage(face),
                          background_opacity=1.0,
                          background_layout=SimpleBoxLayoutRule(
                              x_align=AxisAlignment.ALIGN_MIN, y_align=AxisAlignment.ALIGN_MAX,
                              margins=Margins(0, 0, 0, 0),
                              inner_content_scaling=InnerScaling.STRETCH_FILL))


def common_name(cert: Any) -> str:
    native = cert.subject.native
    return str(native.get("common_name") or cert.subject.human_friendly)


def organization(cert: Any) -> str | None:
    found = cert.subject.native.get("organization_name")
    return str(found) if found else None


def signature_box(x0: float, y0: float, x1: float, y1: float,
                  rotate: int) -> tuple[float, float, float, float]:
    """The box at the corner a reader sees as top-left, in the page's own coordinates: a
    page shown turned by /Rotate has that corner elsewhere."""
    w = min(BOX_W, (x1 - x0) * 0.5 if rotate in (0, 180) else (y1 - y0) * 0.5)
    h = min(BOX_H, w * BOX_H / BOX_W)
    m = min(MARGIN, w * 0.1)
    if rotate == 90:
        return x0 + m, y0 + m, x0 + m + h, y0 + m + w
    if rotate == 180:
        return x1 - m - w, y0 + m, x1 - m, y0 + m + h
    if rotate == 270:
        return x1 - m - h, y1 - m - w, x1 - m, y1 - m
    return x0 + m, y1 - m - h, x0 + m + w, y1 - m


def load_signer(key: KeyFile) -> signers.SimpleSigner:
    """Loaded once per process (again when the file changes)."""
    try:
        return _signer(key.path, key.passphrase, Path(key.path).stat().st_mtime)
    except SigningKeyError:
        raise
    except Exception as exc:
        raise SigningKeyError(f"cannot load the signing key {key.path}: {exc!r}") from exc


def sign(pdf: bytes, key: KeyFile | signers.SimpleSigner, reason: str,
         location: str) -> Signed:
    signer = load_signer(key) if isinstance(key, KeyFile) else key
    name = common_name(signer.signing_cert)
    at = datetime.now(TZ)
    *page, rotate = first_page_box(pdf)
    box = signature_box(*page, rotate)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256",
        reason=reason, location=location, name=name)
    face = _appearance(box[2] - box[0], box[3] - box[1], name, at, rotate)
    pdf_signer = signers.PdfSigner(
        meta, signer=signer, stamp_style=_style(face),
        new_field_spec=fields.SigFieldSpec(FIELD, on_page=0, box=box))
    # A fixed reservation spares pyHanko a dry-run signature to estimate the size (a third
    # of the time); RSA 2048 with the two certificates takes about 4 KB of it.
    out = pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False),
                              bytes_reserved=RESERVED)
    return Signed(out.getvalue(), name, at.astimezone(UTC), organization(signer.signing_cert))


@functools.lru_cache(maxsize=4)
def _roots(paths: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(load_cert_from_pemder(p) for p in paths)


def verify(pdf: bytes, trust_roots: tuple[str, ...]) -> Verdict:
    """Valid only when the signature's digest matches, it covers the whole file (nothing
    appended after it) and its certificate chains to a trusted root."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        found = reader.embedded_signatures
    except Exception as exc:  # a damaged file is an answer, not an error
        return Verdict(False, False, False, False, None, None, f"unreadable PDF: {exc}"[:300])
    if not found:
        return Verdict(False, False, True, False, None, None, "no signature")
    sig = found[-1]
    try:
        context = ValidationContext(trust_roots=list(_roots(trust_roots)),
                                    allow_fetching=False, revocation_mode="soft-fail")
        status = validate_pdf_signature(sig, context)
    except Exception as exc:
        return Verdict(True, False, False, False, None, None, f"not verifiable: {exc}"[:300])
    whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    intact = bool(status.intact and whole)
    valid = bool(status.bottom_line and whole)
    reason = ("valid" if valid else "bytes changed after signing" if not intact
              else "certificate not trusted" if not status.trusted else "signature invalid")
    said = sig.sig_object
    return Verdict(True, valid, intact, bool(status.trusted), common_name(status.signing_cert),
                   status.signer_reported_dt, reason, organization(status.signing_cert),
                   _text(said.get("/Reason")), _text(said.get("/Location")))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:500]

"""Scanned pages into one PDF per component (Decision 1333: each component its own file).
Pure functions over bytes, run in the worker pool: what a file is comes from its first
bytes (magic numbers), never from its name or declared type."""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import StrEnum

import img2pdf
import pikepdf
from PIL import Image, UnidentifiedImageError


class Kind(StrEnum):
    png = "png"
    jpeg = "jpeg"
    tiff = "tiff"
    pdf = "pdf"


_MAGIC: tuple[tuple[bytes, Kind], ...] = (
    (b"\x89PNG\r\n\x1a\n", Kind.png),
    (b"\xff\xd8\xff", Kind.jpeg),
    (b"II*\x00", Kind.tiff),
    (b"MM\x00*", Kind.tiff),
    (b"%PDF-", Kind.pdf),
)
# Enough bytes to recognise every kind above.
SNIFF_BYTES = 8


def sniff(head: bytes) -> Kind | None:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return None


class BadScan(Exception):
    """A file that looked like an image or PDF but cannot be read as one: the uploader's
    fault (422), with the index of the file."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(index, reason)  # args as given: it crosses processes (pickled)
        self.index = index
        self.reason = reason

    def __str__(self) -> str:
        return f"file {self.index}: {self.reason}"


@dataclass(frozen=True)
class Scan:
    pdf: bytes
    pages: int


# Page 1 carries the signature box: a page smaller than an inch cannot (and is no scan).
MIN_PAGE_POINTS = 72.0


def to_pdf(files: list[bytes], max_pixels: int) -> Scan:
    """One PDF of every page: images in the order given (a multi-page TIFF gives all its
    frames), or one PDF as it is (re-written whole, so an incremental signature can follow).
    `max_pixels` bounds each decoded image (a tiny file can declare a huge picture)."""
    scan = _to_pdf(files, max_pixels)
    try:
        x0, y0, x1, y1, _ = first_page_box(scan.pdf)
    except (pikepdf.PdfError, ValueError, KeyError, IndexError) as exc:
        raise BadScan(0, f"the first page cannot be read: {exc}") from exc
    if min(abs(x1 - x0), abs(y1 - y0)) < MIN_PAGE_POINTS:
        raise BadScan(0, f"the first page is too small ({abs(x1 - x0):g} x {abs(y1 - y0):g} "
                         f"points; at least {MIN_PAGE_POINTS:g} each way)")
    return scan


def _to_pdf(files: list[bytes], max_pixels: int) -> Scan:
    kinds = [sniff(f[:SNIFF_BYTES]) for f in files]
    if kinds == [Kind.pdf]:
        return _normalised_pdf(files[0])
    pieces = [_image_for_pdf(i, data, max_pixels) for i, data in enumerate(files)]
    try:
        pdf = img2pdf.convert(pieces, rotation=img2pdf.Rotation.ifvalid)
    except Exception as exc:  # img2pdf raises many kinds for broken images
        raise BadScan(0, f"the images cannot be made into a PDF: {exc}") from exc
    assert isinstance(pdf, bytes)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return Scan(pdf, len(doc.pages))


def _image_for_pdf(index: int, data: bytes, max_pixels: int) -> bytes:
    """The image as img2pdf takes it: as given when it can (lossless, no re-encoding), else
    flattened on white (img2pdf refuses some alpha channels and palette modes)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.width * img.height > max_pixels:
                raise BadScan(index, f"the image is too large ({img.width}x{img.height} "
                                     f"pixels, at most {max_pixels})")
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            # The header tells the mode; decoding is left to img2pdf (once, not twice).
            if img.mode in ("1", "L", "RGB", "CMYK") or getattr(img, "n_frames", 1) > 1:
                return data
            flat = Image.new("RGB", img.size, "white")
            rgba = img.convert("RGBA")
            flat.paste(rgba, mask=rgba.getchannel("A"))
            out = io.BytesIO()
            flat.save(out, format="PNG")
            return out.getvalue()
    except BadScan:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as exc:
        raise BadScan(index, f"the image cannot be read: {exc}") from exc


def _normalised_pdf(data: bytes) -> Scan:
    try:
        with pikepdf.open(io.BytesIO(data)) as doc:
            if doc.is_encrypted:
                raise BadScan(0, "the PDF is encrypted")
            pages = len(doc.pages)
            if pages == 0:
                raise BadScan(0, "the PDF has no pages")
            out = io.BytesIO()
            doc.save(out, linearize=False, object_stream_mode=pikepdf.ObjectStreamMode.preserve)
            return Scan(out.getvalue(), pages)
    except pikepdf.PasswordError as exc:
        raise BadScan(0, "the PDF is encrypted") from exc
    except pikepdf.PdfError as exc:
        raise BadScan(0, f"the PDF cannot be read: {exc}") from exc


def first_page_box(pdf: bytes) -> tuple[float, float, float, float, int]:
    """Page 1's visible box (x0, y0, x1, y1) and its /Rotate: where the signature goes."""
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        page = doc.pages[0]
        box = [float(v) for v in page.cropbox]
        rotate = int(page.obj.get("/Rotate", 0)) % 360
        return box[0], box[1], box[2], box[3], rotate

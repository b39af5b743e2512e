"""Scanned pages into one PDF per component (Decision 1333: each component its own file).
Pure functions over bytes, run in the worker pool: what a file is comes from its first
bytes (magic numbers), never from its name or declared type; what a picture will take in
memory comes from its header, before anything is decoded."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

import img2pdf
import pikepdf
from PIL import Image, UnidentifiedImageError

from contracts.common import Problem
from services.common.errors import Invalid
from services.digitization.active_content import strip_active_content


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


class BadScan(Invalid):
    """A file that looked like an image or PDF but cannot be read as one: the uploader's
    fault (422), naming the file: `field`, or its place among the pages."""

    code: ClassVar[str] = "unreadable_file"
    message_vi: ClassVar[str] = "Không đọc được tệp đã tải lên"

    def __init__(self, index: int, reason: str, field: str | None = None) -> None:
        super().__init__([Problem.of(self.code, self.message_vi, reason,
                                     field or f"pages[{index}]")])
        # Args as given: it crosses processes (pickled), rebuilt from them.
        self.args = (index, reason, field)
        self.index = index
        self.reason = reason

    def __str__(self) -> str:
        return f"file {self.index}: {self.reason}"

    def named(self, field: str) -> BadScan:
        """The same refusal naming the file as the request did (a PDF sent as the body)."""
        return type(self)(self.index, self.reason, field)


class ImageTooLarge(BadScan):
    """Pictures that would take more memory once decoded than the limits allow (413),
    refused from their headers: a small file can declare a huge canvas."""

    status = 413
    code: ClassVar[str] = "image_too_large"
    message_vi: ClassVar[str] = "Ảnh quá lớn khi giải nén; hãy quét ở độ phân giải thấp hơn"


MiB = 1024 * 1024


@dataclass(frozen=True)
class ImageLimits:
    """What the pictures of one upload may take once decoded: pixels of one picture, bytes
    of one page and of every page together, and how many page images (files, and frames
    of one file) it may have."""

    pixels: int = 100_000_000
    page_bytes: int = 80 * MiB  # an A3 colour page at 300 dpi takes 70 MiB
    upload_bytes: int = 1024 * MiB
    pages: int = 200


# Bytes per pixel as Pillow holds a decoded picture: several 8-bit bands are padded to 4.
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_PADDED = 4
# Modes img2pdf takes as they are; any other picture is flattened on white, which holds an
# RGBA copy and an RGB canvas (4 bytes a pixel each) beside the picture itself.
_KEPT_MODES = ("1", "L", "RGB", "CMYK")
_FLATTENING = 8


def bytes_per_pixel(mode: str) -> int:
    return _BYTES_PER_PIXEL.get(mode, _PADDED)


def _frames(img: Image.Image, index: int, most: int) -> Iterator[Image.Image]:
    """Each frame's header in turn (a TIFF's pages), at most `most`: seeking reads a
    frame's header, never its pixels."""
    for frame in range(most + 1):
        try:
            img.seek(frame)
        except EOFError:
            return
        if frame == most:
            raise ImageTooLarge(index, f"the file holds more than {most} pages")
        yield img


def image_memory(index: int, data: bytes, limits: ImageLimits) -> int:
    """The bytes the picture (every frame of it) takes once decoded, from its header alone:
    width x height x bytes per pixel of its mode, plus the flattening copies when it is not
    kept as it is. ImageTooLarge over the pixel or page limit; BadScan when unreadable."""
    total = 0
    try:
        with Image.open(io.BytesIO(data)) as img:
            several = getattr(img, "is_animated", False)
            for page, frame in enumerate(_frames(img, index, limits.pages), 1):
                w, h, mode = frame.width, frame.height, frame.mode
                per_pixel = bytes_per_pixel(mode) + (
                    0 if mode in _KEPT_MODES or several else _FLATTENING)
                size = w * h * per_pixel
                where = f" (page {page})" if several else ""
                if w * h > limits.pixels:
                    raise ImageTooLarge(index, f"the image is too large{where}: {w}x{h} "
                                               f"pixels, at most {limits.pixels}")
                if size > limits.page_bytes:
                    raise ImageTooLarge(index, f"the image would take {_mib(size)} once "
                                               f"decoded{where} ({w}x{h} pixels, {mode}); at "
                                               f"most {_mib(limits.page_bytes)} a page")
                total += size
    except BadScan:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as exc:
        raise BadScan(index, f"the image cannot be read: {exc}") from exc
    return total


def images_memory(files: list[bytes], limits: ImageLimits) -> int:
    """Every picture of an upload measured before any is decoded: ImageTooLarge when one
    page, or all of them together, would take more than the limits."""
    total = 0
    for index, data in enumerate(files):
        total += image_memory(index, data, limits)
        if total > limits.upload_bytes:
            raise ImageTooLarge(index, f"the images would take more than "
                                       f"{_mib(limits.upload_bytes)} together once decoded")
    return total


def _mib(size: int) -> str:
    return f"{size / MiB:,.0f} MiB"


@dataclass(frozen=True)
class Scan:
    pdf: bytes
    pages: int


# Page 1 carries the signature box: a page smaller than an inch cannot (and is no scan).
MIN_PAGE_POINTS = 72.0


def to_pdf(files: list[bytes], limits: ImageLimits | int) -> Scan:
    """One PDF of every page: images in the order given (a multi-page TIFF gives all its
    frames), or one PDF with its active content taken out (re-written whole, so an
    incremental signature can follow). `limits` bounds what the pictures take once decoded
    (a tiny file can declare a huge picture); a number is the pixel limit alone."""
    if isinstance(limits, int):
        limits = ImageLimits(pixels=limits)
    scan = _to_pdf(files, limits)
    try:
        x0, y0, x1, y1, _ = first_page_box(scan.pdf)
    except (pikepdf.PdfError, ValueError, KeyError, IndexError) as exc:
        raise BadScan(0, f"the first page cannot be read: {exc}") from exc
    if min(abs(x1 - x0), abs(y1 - y0)) < MIN_PAGE_POINTS:
        raise BadScan(0, f"the first page is too small ({abs(x1 - x0):g} x {abs(y1 - y0):g} "
                         f"points; at least {MIN_PAGE_POINTS:g} each way)")
    return scan


def _to_pdf(files: list[bytes], limits: ImageLimits) -> Scan:
    kinds = [sniff(f[:SNIFF_BYTES]) for f in files]
    if kinds == [Kind.pdf]:
        return _normalised_pdf(files[0], limits)
    images_memory(files, limits)  # every one measured before the first is decoded
    pieces = [_image_for_pdf(i, data) for i, data in enumerate(files)]
    try:
        pdf = img2pdf.convert(pieces, rotation=img2pdf.Rotation.ifvalid)
    except Exception as exc:  # img2pdf raises many kinds for broken images
        raise BadScan(0, f"the images cannot be made into a PDF: {exc}") from exc
    assert isinstance(pdf, bytes)
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        return Scan(pdf, len(doc.pages))


def _image_for_pdf(index: int, data: bytes) -> bytes:
    """The image as img2pdf takes it: as given when it can (lossless, no re-encoding), else
    flattened on white (img2pdf refuses some alpha channels and palette modes)."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            # The header tells the mode; decoding is left to img2pdf (once, not twice).
            if img.mode in _KEPT_MODES or getattr(img, "n_frames", 1) > 1:
                return data
            flat = Image.new("RGB", img.size, "white")
            rgba = img.convert("RGBA")
            flat.paste(rgba, mask=rgba.getchannel("A"))
            out = io.BytesIO()
            flat.save(out, format="PNG")
            return out.getvalue()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError,
            Image.DecompressionBombError) as exc:
        raise BadScan(index, f"the image cannot be read: {exc}") from exc


def _pdf_images_memory(doc: pikepdf.Pdf, limits: ImageLimits) -> None:
    """The pictures a PDF's pages draw, measured from their dictionaries (never decoded):
    reading the scan afterwards (OCR) decodes them."""
    total = 0
    for number, page in enumerate(doc.pages, 1):
        size = sum(_xobject_bytes(x) for x in _page_images(page.obj))
        if size > limits.page_bytes:
            raise ImageTooLarge(0, f"page {number} draws images that would take {_mib(size)} "
                                   f"once decoded; at most {_mib(limits.page_bytes)} a page")
        total += size
        if total > limits.upload_bytes:
            raise ImageTooLarge(0, f"the PDF's images would take more than "
                                   f"{_mib(limits.upload_bytes)} together once decoded")


def _page_images(page: pikepdf.Object) -> Iterator[pikepdf.Object]:
    """Image XObjects of a page, those inside its form XObjects too (each form once)."""
    stack, seen = [page], set()
    while stack:
        holder = stack.pop()
        resources = holder.get("/Resources")
        xobjects = resources.get("/XObject") if isinstance(resources, pikepdf.Dictionary) \
            else None
        if not isinstance(xobjects, pikepdf.Dictionary):
            continue
        for name in list(xobjects.keys()):
            x = xobjects[name]
            if not isinstance(x, pikepdf.Stream):
                continue
            if x.get("/Subtype") == "/Image":
                yield x
            elif x.get("/Subtype") == "/Form" and x.objgen not in seen:
                seen.add(x.objgen)
                stack.append(x)


# Colour components of a PDF colour space, as a decoded picture is held (padded to 4).
_PDF_BYTES_PER_PIXEL = {"/DeviceGray": 1, "/CalGray": 1, "/Indexed": 1, "/Separation": 1}


def _xobject_bytes(image: pikepdf.Object) -> int:
    try:
        w, h = int(image.get("/Width", 0)), int(image.get("/Height", 0))
        bits = int(image.get("/BitsPerComponent", 8))
    except (TypeError, ValueError) as exc:
        raise BadScan(0, f"an image of the PDF has no readable size: {exc}") from exc
    space = image.get("/ColorSpace")
    family = str(space[0] if isinstance(space, pikepdf.Array) and len(space) else space)
    per_pixel = 1 if image.get("/ImageMask") else _PDF_BYTES_PER_PIXEL.get(family, _PADDED)
    return max(w, 0) * max(h, 0) * per_pixel * (2 if bits == 16 else 1)


def _normalised_pdf(data: bytes, limits: ImageLimits) -> Scan:
    try:
        with pikepdf.open(io.BytesIO(data)) as doc:
            if doc.is_encrypted:
                raise BadScan(0, "the PDF is encrypted")
            pages = len(doc.pages)
            if pages == 0:
                raise BadScan(0, "the PDF has no pages")
            _pdf_images_memory(doc, limits)
            # Served inline and signed as the officer's: nothing in it may run or call out.
            strip_active_content(doc)
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

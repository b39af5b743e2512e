"""The pages of a scanned component as images: the raster images inside a PDF (as img2pdf
and scanners make them), or the frames of PNG/JPEG/TIFF files."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Iterator, Sequence

from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PdfReadError

RENDER_DPI = 300
_TIMEOUT_S = 60.0


class UnreadableDocument(ValueError):
    """Neither a PDF nor an image Pillow can open, or a PDF page with nothing to read."""


def _pdf_pages(data: bytes, limit: int) -> Iterator[Image.Image]:
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = list(reader.pages)[:limit]
    except (PdfReadError, ValueError, KeyError) as exc:
        raise UnreadableDocument(f"not a readable PDF: {exc}") from exc
    for number, page in enumerate(pages, 1):
        images = [found.image for found in page.images if found.image is not None]
        if images:
            # A scanned page is one picture; a signature stamp or logo is smaller.
            yield max(images, key=lambda im: im.width * im.height)
        else:
            yield _render(data, number)


def _render(data: bytes, number: int) -> Image.Image:
    # A page drawn as vectors (a form filled in electronically, then printed to PDF):
    # poppler rasterises it, through pipes.
    try:
        done = subprocess.run(
            ["pdftoppm", "-r", str(RENDER_DPI), "-gray", "-f", str(number), "-l", str(number),
             "-singlefile", "-png", "-"],
            input=data, capture_output=True, timeout=_TIMEOUT_S, check=False)
    except FileNotFoundError as exc:
        raise UnreadableDocument(f"PDF page {number} has no scanned image and pdftoppm "
                                 "(poppler-utils) is not installed") from exc
    if done.returncode != 0 or not done.stdout:
        raise UnreadableDocument(f"PDF page {number} could not be rendered")
    image = Image.open(io.BytesIO(done.stdout))
    image.info["dpi"] = (RENDER_DPI, RENDER_DPI)
    return image


def _image_frames(data: bytes, limit: int) -> Iterator[Image.Image]:
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as exc:
        raise UnreadableDocument("neither a PDF nor an image (PNG, JPEG, TIFF)") from exc
    for frame in range(min(getattr(image, "n_frames", 1), limit)):
        image.seek(frame)
        copy = image.copy()
        copy.info["dpi"] = image.info.get("dpi", (300, 300))
        yield copy


def load_pages(document: bytes | Sequence[bytes], limit: int) -> list[Image.Image]:
    """At most `limit` pages of a PDF, a (multi-frame) image, or a list of page images."""
    parts = [document] if isinstance(document, bytes | bytearray) else list(document)
    pages: list[Image.Image] = []
    for part in parts:
        if not part:
            raise UnreadableDocument("empty document")
        data = bytes(part)
        reader = _pdf_pages if data.startswith(b"%PDF") else _image_frames
        pages.extend(reader(data, limit - len(pages)))
        if len(pages) >= limit:
            break
    return pages

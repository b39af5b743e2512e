"""Scans into one PDF per component: kinds told by their first bytes, every page kept in
order, broken files refused with the index of the file, the signature box at the corner a
reader sees as top-left."""

from __future__ import annotations

import io

import pikepdf
import pytest
from PIL import Image

from services.digitization.pages import BadScan, Kind, first_page_box, sniff, to_pdf
from services.digitization.signing import signature_box


def image(fmt: str, size: tuple[int, int] = (200, 300), mode: str = "RGB",
          color: object = "white", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, color).save(out, format=fmt, **save)
    return out.getvalue()


def test_kinds_are_told_by_content_not_name() -> None:
    assert sniff(image("PNG")[:8]) == Kind.png
    assert sniff(image("JPEG")[:8]) == Kind.jpeg
    assert sniff(image("TIFF")[:8]) == Kind.tiff
    assert sniff(b"%PDF-1.7\n") == Kind.pdf
    for other in (b"GIF89a..", b"PK\x03\x04", b"<html>", b"MZ\x90\x00", b"", b"%PD"):
        assert sniff(other) is None


def test_images_become_one_pdf_with_every_page_in_order() -> None:
    frames = [Image.new("L", (100, 150), shade) for shade in (0, 128)]
    tiff = io.BytesIO()
    frames[0].save(tiff, format="TIFF", save_all=True, append_images=frames[1:])
    files = [image("PNG", (400, 600)), image("JPEG", (300, 300)), tiff.getvalue(),
             image("PNG", (50, 80), mode="RGBA", color=(255, 0, 0, 100)),
             image("PNG", (60, 60), mode="P")]
    scan = to_pdf(files, 10**8)
    assert scan.pages == 6  # the TIFF gives two pages
    with pikepdf.open(io.BytesIO(scan.pdf)) as pdf:
        widths = [float(p.mediabox[2]) for p in pdf.pages]
    assert widths[0] > widths[1] > widths[4]


def test_a_pdf_is_taken_whole() -> None:
    pdf = to_pdf([image("PNG"), image("PNG")], 10**8).pdf
    again = to_pdf([pdf], 10**8)
    assert again.pages == 2 and again.pdf.startswith(b"%PDF-")


@pytest.mark.parametrize(("files", "index"), [
    ([image("PNG"), b"\x89PNG\r\n\x1a\n" + b"\x00" * 40], 1),
    ([b"\xff\xd8\xff" + b"garbage" * 10], 0),
    ([b"%PDF-1.4\n this is not a pdf"], 0),
])
def test_a_broken_file_is_refused_naming_it(files: list[bytes], index: int) -> None:
    with pytest.raises(BadScan) as caught:
        to_pdf(files, 10**8)
    assert caught.value.index == index


def test_a_first_page_too_small_for_the_signature_is_refused() -> None:
    tiny = (b"%PDF-1.4\n1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n2 0 obj\n"
            b"<</Type/Pages/Kids[3 0 R]/Count 1>>\nendobj\n3 0 obj\n<</Type/Page/Parent 2 0 R"
            b"/MediaBox[0 0 1 1]>>\nendobj\ntrailer\n<</Size 4/Root 1 0 R>>\n%%EOF\n")
    with pytest.raises(BadScan, match="too small"):
        to_pdf([tiny], 10**8)
    with pytest.raises(BadScan, match="too small"):
        to_pdf([image("PNG", (4, 4))], 10**8)


def test_a_picture_declaring_too_many_pixels_is_refused() -> None:
    with pytest.raises(BadScan, match="too large"):
        to_pdf([image("PNG", (2000, 2000))], 1_000_000)


def test_the_box_sits_at_the_top_left_a_reader_sees() -> None:
    a4 = (0.0, 0.0, 595.0, 842.0)
    x0, y0, x1, y1 = signature_box(*a4, 0)
    assert x0 < 100 and y1 > 800 and x1 - x0 > y1 - y0
    # Shown turned by 90 degrees clockwise: the top-left seen is the page's bottom-left.
    x0, y0, x1, y1 = signature_box(*a4, 90)
    assert x0 < 100 and y0 < 100 and y1 - y0 > x1 - x0
    # Upside down: the page's bottom-right.
    x0, y0, x1, y1 = signature_box(*a4, 180)
    assert x1 > 500 and y0 < 100
    # A small page gets a smaller box, still inside it.
    x0, y0, x1, y1 = signature_box(0, 0, 150, 200, 0)
    assert 0 < x0 < x1 <= 150 and 0 < y0 < y1 <= 200


def test_first_page_box_reads_the_page() -> None:
    pdf = to_pdf([image("PNG", (144, 288))], 10**8).pdf
    x0, y0, x1, y1, rotate = first_page_box(pdf)
    assert (x0, y0, rotate) == (0, 0, 0) and x1 < y1

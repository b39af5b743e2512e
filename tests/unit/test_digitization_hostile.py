"""Hostile uploads, without I/O beyond the bytes: a PDF carrying each kind of active content
comes out of the conversion clean, and still signs and verifies; a picture whose small file
declares a huge canvas is refused by what it would take in memory once decoded (width x
height x bytes per pixel of its mode, per page and per upload), before anything decodes it."""

from __future__ import annotations

import io
from pathlib import Path

import img2pdf
import pikepdf
import pytest
from PIL import Image, ImageFile

from services.digitization.active_content import strip_active_content
from services.digitization.pages import (
    BadScan,
    ImageLimits,
    ImageTooLarge,
    MiB,
    image_memory,
    to_pdf,
)
from services.digitization.pki import DEV_PASSPHRASE, ca_cert_path, ensure_dev_pki
from services.digitization.signing import KeyFile, sign, verify
from tests.hostile_files import (
    ACTIVE,
    active_pdf,
    huge_png,
    huge_tiff,
    leftovers,
    pdf_with_huge_image,
)


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> tuple[KeyFile, tuple[str, ...]]:
    var = tmp_path_factory.mktemp("var")
    keys = ensure_dev_pki(var)
    return KeyFile(str(keys["tnhs-01"]), DEV_PASSPHRASE), (str(ca_cert_path(var)),)


@pytest.mark.parametrize("kind", [*ACTIVE, "all at once"])
def test_active_content_is_taken_out_and_the_file_still_signs(
        kind: str, key: tuple[KeyFile, tuple[str, ...]]) -> None:
    hostile = active_pdf() if kind == "all at once" else active_pdf(kind)
    assert leftovers(hostile), "the hostile file carries what the test looks for"
    scan = to_pdf([hostile], ImageLimits())
    assert leftovers(scan.pdf) == [], kind
    assert scan.pages == 1
    signed = sign(scan.pdf, key[0], "Số hóa", "Hà Nội")
    assert leftovers(signed.pdf) == [], kind
    verdict = verify(signed.pdf, key[1])
    assert verdict.valid and verdict.intact and verdict.trusted, verdict


def test_a_clean_file_loses_nothing() -> None:
    pdf = to_pdf([_png((300, 400))], ImageLimits()).pdf
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        assert strip_active_content(doc) == set()
        with_link = pikepdf.Dictionary(Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link,
                                       Rect=[0, 0, 9, 9], A=pikepdf.Dictionary(
                                           S=pikepdf.Name.URI, URI=pikepdf.String("https://x")))
        doc.pages[0].obj.Annots = pikepdf.Array([doc.make_indirect(with_link)])
        assert strip_active_content(doc) == set()  # a plain link is not active content
        assert doc.pages[0].obj.Annots[0].A.S == pikepdf.Name.URI


def _png(size: tuple[int, int], mode: str = "L") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Any decoding of pixels (Pillow's load, img2pdf's conversion) is recorded and fails."""
    calls: list[str] = []

    def load(self: ImageFile.ImageFile) -> None:
        calls.append(f"decode {self.format} {self.size}")
        raise AssertionError("decoded")

    def convert(*args: object, **kwargs: object) -> None:
        calls.append("img2pdf")
        raise AssertionError("converted")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    monkeypatch.setattr(img2pdf, "convert", convert)
    return calls


@pytest.mark.parametrize("hostile", [
    pytest.param(lambda: huge_png(9900, 9900), id="98 Mpx palette PNG"),
    pytest.param(lambda: huge_png(9900, 9900, palette=False), id="98 Mpx grey PNG"),
    pytest.param(lambda: huge_tiff(9900, 9900), id="98 Mpx grey TIFF")])
def test_a_small_file_of_a_huge_canvas_is_refused_before_decoding(
        hostile: object, no_decoding: list[str]) -> None:
    data = hostile()  # type: ignore[operator]
    assert len(data) < 400_000  # a small file...
    limits = ImageLimits()
    with Image.open(io.BytesIO(data)) as img:
        assert img.width * img.height < limits.pixels  # ...under the pixel limit
    with pytest.raises(ImageTooLarge, match="once decoded") as refused:
        to_pdf([data], limits)
    assert refused.value.index == 0
    assert no_decoding == []


def test_memory_is_counted_by_mode_per_page_and_per_upload() -> None:
    grey, palette = _png((1000, 1000)), _png((1000, 1000), "P")
    rgb = _png((1000, 1000), "RGB")
    limits = ImageLimits(page_bytes=5 * MiB, upload_bytes=10 * MiB)
    assert image_memory(0, grey, limits) == 1_000_000  # kept as it is: 1 byte a pixel
    assert image_memory(0, rgb, limits) == 4_000_000  # Pillow pads RGB to 4 bytes
    # A palette picture is flattened on white: an RGBA copy and an RGB canvas besides.
    with pytest.raises(ImageTooLarge, match="a page"):
        image_memory(0, palette, limits)
    assert image_memory(0, palette, ImageLimits()) == 9_000_000
    # Three RGB pages of 4 MB each: each fits a page, not all three together.
    with pytest.raises(ImageTooLarge, match="together") as refused:
        to_pdf([rgb, rgb, rgb], limits)
    assert refused.value.index == 2
    assert to_pdf([rgb, rgb], limits).pages == 2
    # Every page of a multi-page TIFF is counted, and their number is bounded.
    frames = [Image.new("L", (1000, 1000)) for _ in range(4)]
    tiff = io.BytesIO()
    frames[0].save(tiff, format="TIFF", save_all=True, append_images=frames[1:])
    assert image_memory(0, tiff.getvalue(), limits) == 4_000_000
    with pytest.raises(ImageTooLarge, match="more than 3 pages"):
        image_memory(0, tiff.getvalue(), ImageLimits(pages=3))
    with pytest.raises(BadScan) as broken:
        image_memory(1, b"\x89PNG\r\n\x1a\n" + bytes(30), limits)
    assert not isinstance(broken.value, ImageTooLarge) and broken.value.index == 1


def test_a_pdf_drawing_a_huge_picture_is_refused_from_its_dictionary(
        no_decoding: list[str], tmp_path: Path) -> None:
    pdf = pdf_with_huge_image(9900, 9900)
    assert len(pdf) < 400_000
    with pytest.raises(ImageTooLarge, match="page 1 draws images"):
        to_pdf([pdf], ImageLimits())
    # A picture of an ordinary scan passes.
    assert to_pdf([pdf_with_huge_image(2480, 3508)], ImageLimits()).pages == 1
    assert no_decoding == []

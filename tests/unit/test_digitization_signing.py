"""Real PAdES signatures: the development PKI signs, verification names the signer and the
time, one flipped byte or a foreign root is refused, and the visible box renders (pdftoppm)
in the top-left corner of page 1."""

from __future__ import annotations

import contextlib
import io
import shutil
import subprocess
from pathlib import Path

import pikepdf
import pytest
from PIL import Image

from services.digitization.pages import to_pdf
from services.digitization.pki import DEV_PASSPHRASE, ca_cert_path, ensure_dev_pki
from services.digitization.signing import KeyFile, sign, verify


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], tuple[str, ...]]:
    var = tmp_path_factory.mktemp("var")
    keys = ensure_dev_pki(var)
    return keys, (str(ca_cert_path(var)),)


def scanned(pages: int = 2) -> bytes:
    files = []
    for _ in range(pages):
        out = io.BytesIO()
        Image.new("RGB", (1240, 1754), "white").save(out, format="PNG")  # A4 at 150 dpi
        files.append(out.getvalue())
    return to_pdf(files, 10**8).pdf


def test_dev_pki_is_made_once(tmp_path: Path) -> None:
    first = ensure_dev_pki(tmp_path)
    stamp = {p: p.read_bytes() for p in first.values()}
    again = ensure_dev_pki(tmp_path)
    assert again == first and {p: p.read_bytes() for p in again.values()} == stamp
    assert (tmp_path / "pki" / "ca.pem").exists()
    assert oct(first["tnhs-01"].stat().st_mode)[-3:] == "600"


def test_signed_verifies_and_one_flipped_byte_is_refused(
        pki: tuple[dict[str, Path], tuple[str, ...]]) -> None:
    keys, roots = pki
    signed = sign(scanned(), KeyFile(str(keys["tnhs-01"]), DEV_PASSPHRASE), "Số hóa", "Hà Nội")
    verdict = verify(signed.pdf, roots)
    assert verdict.valid and verdict.intact and verdict.trusted, verdict
    assert verdict.signer == signed.signer == "Nguyễn Thị Lan - Viên chức TNHS"
    assert verdict.signed_at is not None
    assert abs((verdict.signed_at - signed.signed_at).total_seconds()) < 2

    # One bit of one byte, in the signed content (the image data mid-file).
    tampered = bytearray(signed.pdf)
    tampered[len(tampered) // 3] ^= 0x01
    bad = verify(bytes(tampered), roots)
    assert not bad.valid and not bad.intact

    # Bytes appended after the signature: no longer the file signed.
    appended = verify(signed.pdf + b"\n% appended\n", roots)
    assert not appended.valid

    # An unsigned PDF is not valid; a signature from another CA is not trusted.
    assert not verify(scanned(1), roots).signed
    other = ensure_dev_pki(Path(roots[0]).parent.parent / "other")
    foreign = sign(scanned(1), KeyFile(str(other["tnhs-01"]), DEV_PASSPHRASE), "x", "y")
    refused = verify(foreign.pdf, roots)
    assert refused.intact and not refused.trusted and not refused.valid


def blank(rotate: int) -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    pdf.pages[0].obj["/Rotate"] = rotate
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
@pytest.mark.parametrize("rotate", [None, 0, 90, 180, 270])
def test_the_box_renders_in_the_top_left_of_page_one(
        pki: tuple[dict[str, Path], tuple[str, ...]], tmp_path: Path, rotate: int | None) -> None:
    """As a reader sees the page, pages shown turned (/Rotate) included: the box is in the
    top-left corner and lies the right way up (wider than tall)."""
    keys, _ = pki
    pdf = scanned() if rotate is None else blank(rotate)
    signed = sign(pdf, KeyFile(str(keys["tnhs-01"]), DEV_PASSPHRASE), "Số hóa", "Hà Nội")
    (tmp_path / "signed.pdf").write_bytes(signed.pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-gray", "-png",
                    str(tmp_path / "signed.pdf"), str(tmp_path / "page")], check=True)
    page = Image.open(next(tmp_path.glob("page*.png"))).convert("L")
    w, h = page.size
    dark = [(x, y) for y in range(h) for x in range(w) if page.getpixel((x, y)) < 200]
    # The pages are blank: every dark pixel is the signature box's.
    assert len(dark) > 50
    left, right = min(x for x, _ in dark), max(x for x, _ in dark)
    top, bottom = min(y for _, y in dark), max(y for _, y in dark)
    assert right < w * 0.5 and bottom < h * 0.2
    assert left < w * 0.1 and top < h * 0.1
    assert right - left > 2 * (bottom - top)


async def test_a_dead_worker_is_replaced(pki: tuple[dict[str, Path], tuple[str, ...]]) -> None:
    """A worker process killed mid-job breaks a process pool for good; the next job gets a
    new pool instead of failing forever."""
    import os
    import signal

    from services.digitization.workers import Workers, scan_and_sign

    workers = Workers(1)
    try:
        assert await workers.run(os.getpid) != os.getpid()
        with contextlib.suppress(Exception):
            await workers.run(os.kill, await workers.run(os.getpid), signal.SIGKILL)
        keys, roots = pki
        made = await workers.run(scan_and_sign, [scanned(1)],
                                 KeyFile(str(keys["tnhs-01"]), DEV_PASSPHRASE), "a", "b", 10**8)
        assert (await workers.run(verify, made.signed.pdf, roots)).valid
    finally:
        workers.shutdown()

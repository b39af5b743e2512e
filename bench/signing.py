"""Signing rate of digitization: PAdES signatures (pyHanko, RSA 2048, the visible box on
page 1) per second, in one process and through the service's worker pool, with the pages
made into a PDF first (a scan) and without (a result signed through /sign), and
verifications per second. Figures are printed and written to bench/results/signing-*.json;
nothing here asserts a timing.

    python -m bench.signing [--documents 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from tempfile import mkdtemp
from typing import Any

import psutil
from PIL import Image, ImageDraw

from services.digitization.pages import to_pdf
from services.digitization.pki import DEV_PASSPHRASE, ca_cert_path, ensure_dev_pki
from services.digitization.signing import KeyFile, sign, verify
from services.digitization.workers import Workers, scan_and_sign, verify_pdf

ROOT = Path(__file__).resolve().parent
PIXELS = 10**8


def page(n: int) -> bytes:
    """An A4 page at 150 dpi with some text on it, as a scanner's PNG."""
    img = Image.new("L", (1240, 1754), 255)
    draw = ImageDraw.Draw(img)
    for line in range(40):
        draw.text((100, 100 + line * 38), f"Trang {n} dòng {line} " + "x" * 60, fill=0)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1)


async def pooled(workers: int, count: int, fn: Any, *args: Any) -> float:
    pool = Workers(workers)
    try:
        await pool.run(fn, *args)  # start the processes and load the key before timing
        start = time.perf_counter()
        await asyncio.gather(*(pool.run(fn, *args) for _ in range(count)))
        return rate(count, time.perf_counter() - start)
    finally:
        pool.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=200, help="documents per figure")
    parser.add_argument("--workers", type=int, default=2, help="processes of the pool")
    args = parser.parse_args()
    n = args.documents
    var = Path(mkdtemp(prefix="onestop-bench-signing-"))
    key = KeyFile(str(ensure_dev_pki(var)["tnhs-01"]), DEV_PASSPHRASE)
    roots = (str(ca_cert_path(var)),)
    pages = [page(1), page(2)]
    scan = to_pdf(pages, PIXELS)
    sign(scan.pdf, key, "bench", "bench")  # load the key and fonts once

    start = time.perf_counter()
    for _ in range(n):
        signed = sign(scan.pdf, key, "bench", "bench")
    sign_one = rate(n, time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(n):
        assert verify(signed.pdf, roots).valid
    verify_one = rate(n, time.perf_counter() - start)
    start = time.perf_counter()
    for _ in range(n):
        scan_and_sign(pages, key, "bench", "bench", PIXELS)
    scan_one = rate(n, time.perf_counter() - start)

    sign_pool = asyncio.run(pooled(args.workers, n, scan_and_sign, [scan.pdf], key, "b", "b",
                                   PIXELS))
    scan_pool = asyncio.run(pooled(args.workers, n, scan_and_sign, pages, key, "b", "b",
                                   PIXELS))
    verify_pool = asyncio.run(pooled(args.workers, n, verify_pdf, signed.pdf, roots))

    result = {"at": datetime.now(UTC).isoformat(), "machine": platform.node(),
              "cpus": psutil.cpu_count(), "documents": n, "workers": args.workers,
              "pages_per_document": scan.pages, "signed_bytes": len(signed.pdf),
              "documents_per_s": {
                  "sign, one process": sign_one,
                  "verify, one process": verify_one,
                  "scan (2 PNG pages) + sign, one process": scan_one,
                  f"sign a PDF (/sign), pool of {args.workers}": sign_pool,
                  f"scan (2 PNG pages) + sign, pool of {args.workers}": scan_pool,
                  f"verify, pool of {args.workers}": verify_pool}}
    print(f"{'':48}{'documents/s':>12}")
    for what, value in result["documents_per_s"].items():  # type: ignore[union-attr]
        print(f"{what:48}{value:>12,.1f}")
    out = ROOT / "results" / f"signing-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    print(f"written to {out.relative_to(ROOT.parent)}")


if __name__ == "__main__":
    main()

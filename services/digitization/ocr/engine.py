"""The Tesseract adapter: the package's only I/O, a `tesseract` process fed PNG bytes on
stdin. One thread per process (OMP_THREAD_LIMIT=1): callers parallelise by a process pool,
and OpenMP threads inside each would only fight for the same cores."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

from PIL import Image

BINARY = "tesseract"
LANGUAGE = "vie"
TIMEOUT_S = 60.0
_ENV = {**os.environ, "OMP_THREAD_LIMIT": "1"}


class OcrUnavailable(RuntimeError):
    """Tesseract or its Vietnamese model is not installed (Debian: tesseract-ocr,
    tesseract-ocr-vie)."""


class OcrFailed(RuntimeError):
    """Tesseract ran and failed on a page."""


@dataclass(frozen=True)
class Word:
    text: str
    conf: float  # 0-100 as Tesseract reports it
    left: int
    top: int
    width: int
    height: int
    line: tuple[int, int, int]  # block, paragraph, line numbers of Tesseract's layout


@dataclass(frozen=True)
class Orientation:
    rotate: int  # degrees clockwise that make the page upright (Tesseract's "Rotate")
    confidence: float


@cache
def missing() -> str | None:
    """Why OCR cannot run here, or None when it can."""
    if shutil.which(BINARY) is None:
        return f"{BINARY} is not installed (Debian package tesseract-ocr)"
    langs = subprocess.run([BINARY, "--list-langs"], capture_output=True, text=True,
                           timeout=TIMEOUT_S, env=_ENV).stdout.split()
    for lang, package in ((LANGUAGE, "tesseract-ocr-vie"), ("osd", "tesseract-ocr-osd")):
        if lang not in langs:
            return f"Tesseract has no '{lang}' model (Debian package {package})"
    return None


def _run(image: Image.Image, args: list[str]) -> str:
    reason = missing()
    if reason:
        raise OcrUnavailable(reason)
    png = io.BytesIO()
    image.save(png, format="PNG")
    dpi = str(int(image.info.get("dpi", (300, 300))[0]) or 300)
    try:
        done = subprocess.run([BINARY, "stdin", "stdout", "--dpi", dpi, *args],
                              input=png.getvalue(), capture_output=True, timeout=TIMEOUT_S,
                              env=_ENV, check=False)
    except subprocess.TimeoutExpired as exc:
        raise OcrFailed(f"tesseract took over {TIMEOUT_S:g} s") from exc
    if done.returncode != 0:
        raise OcrFailed(done.stderr.decode(errors="replace").strip()[-500:])
    return done.stdout.decode("utf-8", errors="replace")


_ROTATE = re.compile(r"^Rotate:\s*(\d+)", re.M)
_CONFIDENCE = re.compile(r"^Orientation confidence:\s*([\d.]+)", re.M)


def orientation(image: Image.Image) -> Orientation | None:
    """Tesseract's orientation detection (--psm 0); None when the page has too little text
    for it to decide."""
    try:
        out = _run(image, ["--psm", "0"])
    except OcrFailed:
        return None  # "Too few characters": the caller tries the four turns instead
    rotate, conf = _ROTATE.search(out), _CONFIDENCE.search(out)
    if not rotate or not conf:
        return None
    return Orientation(int(rotate.group(1)) % 360, float(conf.group(1)))


def words(image: Image.Image, psm: int = 4) -> list[Word]:
    """Every word Tesseract reads, with its box and confidence, in reading order."""
    out = _run(image, ["-l", LANGUAGE, "--psm", str(psm), "tsv"])
    found: list[Word] = []
    rows = csv.DictReader(io.StringIO(out), delimiter="\t", quoting=csv.QUOTE_NONE)
    for row in rows:
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:
            continue
        found.append(Word(
            text=text, conf=max(0.0, float(row["conf"])),
            left=int(row["left"]), top=int(row["top"]),
            width=int(row["width"]), height=int(row["height"]),
            line=(int(row["block_num"]), int(row["par_num"]), int(row["line_num"])),
        ))
    return found

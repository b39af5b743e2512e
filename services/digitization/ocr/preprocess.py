"""Scan clean-up before OCR, with Pillow alone: greyscale, denoise, binarise (Otsu), turn
upright and deskew. Pure functions of an image; no engine, no I/O."""

from __future__ import annotations

from PIL import Image, ImageFilter, ImageOps

# Longest side kept for OCR: an A4 page at ~300 dpi. Larger scans only cost time.
MAX_SIDE = 3600
# Fine deskew search: scanners feed pages a few degrees off; beyond this OSD's quarter turns
# and Tesseract's own line finding take over.
SKEW_LIMIT = 6.0
_PROFILE_WIDTH = 700


def greyscale(image: Image.Image) -> Image.Image:
    image = ImageOps.exif_transpose(image) or image
    dpi = image.info.get("dpi")
    if image.mode in ("RGBA", "LA", "P"):
        # Transparent pixels are paper, not ink.
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image.convert("RGBA"))
    grey = image.convert("L")
    if max(grey.size) > MAX_SIDE:
        scale = MAX_SIDE / max(grey.size)
        grey = grey.resize((round(grey.width * scale), round(grey.height * scale)),
                           Image.Resampling.LANCZOS)
        dpi = (dpi[0] * scale, dpi[1] * scale) if dpi else None
    if dpi:
        grey.info["dpi"] = dpi
    return grey


def otsu_threshold(image: Image.Image) -> int:
    """The grey level that best separates ink from paper (Otsu 1979), from the histogram."""
    hist = image.histogram()[:256]
    total = sum(hist)
    sum_all = sum(i * h for i, h in enumerate(hist))
    weight_bg = sum_bg = 0.0
    best, threshold = -1.0, 127
    for level, count in enumerate(hist):
        weight_bg += count
        if weight_bg == 0:
            continue
        weight_fg = total - weight_bg
        if weight_fg == 0:
            break
        sum_bg += level * count
        mean_bg, mean_fg = sum_bg / weight_bg, (sum_all - sum_bg) / weight_fg
        between = weight_bg * weight_fg * (mean_bg - mean_fg) ** 2
        if between > best:
            best, threshold = between, level
    return threshold


def binarise(grey: Image.Image) -> Image.Image:
    """Black text on white: a 3x3 box blur spreads salt-and-pepper dots and grain below the
    threshold, then Otsu's threshold. Kept as mode L (0/255) for Tesseract and rotation.

    A median filter reads as well on the test forms but costs 15x the time (1.5 s a page).
    """
    smooth = grey.filter(ImageFilter.BoxBlur(1))
    level = otsu_threshold(smooth)
    out = smooth.point(lambda v: 255 if v > level else 0)
    out.info["dpi"] = grey.info.get("dpi", (300, 300))
    return out


def small(image: Image.Image, side: int) -> Image.Image:
    """`image` shrunk so its longest side is at most `side`, the dpi scaled alike."""
    scale = side / max(image.size)
    if scale >= 1:
        return image
    out = image.resize((round(image.width * scale), round(image.height * scale)),
                       Image.Resampling.BOX)
    dpi = image.info.get("dpi", (300, 300))
    out.info["dpi"] = (max(1, round(dpi[0] * scale)), max(1, round(dpi[1] * scale)))
    return out


def turn(image: Image.Image, degrees: float) -> Image.Image:
    """`image` turned counter-clockwise, the uncovered corners white, the dpi kept."""
    if not degrees % 360:
        return image
    if degrees % 90 == 0:
        turned = image.rotate(degrees, expand=True)
    else:
        turned = image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True,
                              fillcolor=255)
    turned.info["dpi"] = image.info.get("dpi", (300, 300))
    return turned


def _profile_score(ink: Image.Image, degrees: float) -> float:
    # Text lines aligned with the rows give rows that are all ink or all paper: the
    # variance of the row sums peaks at the right angle.
    rows = ink.rotate(degrees, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=0)
    column = rows.resize((1, rows.height), Image.Resampling.BOX)
    values = list(column.tobytes())  # mode L: one byte per row
    mean = sum(values) / len(values)
    return sum((v - mean) ** 2 for v in values)


def skew_angle(binary: Image.Image) -> float:
    """Degrees to turn an upright page counter-clockwise so its lines are level."""
    scale = _PROFILE_WIDTH / binary.width
    reduced = binary.resize((_PROFILE_WIDTH, max(1, round(binary.height * scale))),
                            Image.Resampling.BOX)
    ink = ImageOps.invert(reduced)  # ink bright, so turned-in corners (0) add nothing

    def best(candidates: list[float]) -> float:
        return max(candidates, key=lambda a: _profile_score(ink, a))

    coarse = best([x / 2 for x in range(int(-SKEW_LIMIT * 2), int(SKEW_LIMIT * 2) + 1)])
    return best([coarse + x / 10 for x in range(-5, 6)])

"""From the words Tesseract read to the fields of a form: find a label at the start of a
segment of a line, take the text after it, keep it only if it has the field's shape.
Pure functions; confidence comes from the engine's word confidences."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import date
from functools import cache
from itertools import pairwise
from typing import Any

from services.digitization.ocr.declaration_forms import FormSpec
from services.digitization.ocr.engine import Word
from services.digitization.ocr.model import FieldName, FieldValue
from services.digitization.ocr.text import digits_of, fold, name_words, nfc

# Two fields printed on one line ("Ngày sinh: ...    Giới tính: Nam") are apart by more
# than this many word heights; words of one field are closer.
GAP_FACTOR = 1.6
# A value whose characters had to be repaired to fit its shape is less sure.
REPAIR_PENALTY = 0.8
ID_LENGTHS = (12, 9)  # citizen ID / personal identifier (12), old identity card (9)
SOCIAL_LENGTH = 10
YEARS = (1900, 2100)
NAME_WORDS = (2, 8)

_LEAD = r"^[^a-z]{0,8}?"  # numbering and OCR debris before a label: "[07].", "(10)", "|"
_TAIL = r"(?:\s*\([^)]*\))?(?:[^:\d]{0,40}?:)?\s*"  # "(viết chữ in hoa)", "/ĐDCN/Hộ chiếu:"
_DMY = re.compile(r"(\d{1,2})\s*[/.\-]\s*(\d{1,2})\s*[/.\-]\s*(\d{4})")
_WORDY_DMY = re.compile(r"(\d{1,2})\s*thang\s*(\d{1,2})\s*nam\s*(\d{4})")


def segments(words: Iterable[Word]) -> list[list[Word]]:
    """Words grouped by Tesseract's lines, each line cut where a wide gap separates two
    fields; in reading order."""
    lines: dict[tuple[int, int, int], list[Word]] = {}
    for word in words:
        lines.setdefault(word.line, []).append(word)
    out: list[list[Word]] = []
    for line in sorted(lines.values(), key=lambda ws: (min(w.top for w in ws), ws[0].left)):
        line.sort(key=lambda w: w.left)
        height = statistics.median(w.height for w in line)
        current = [line[0]]
        for prev, word in pairwise(line):
            if word.left - (prev.left + prev.width) > GAP_FACTOR * height:
                out.append(current)
                current = []
            current.append(word)
        out.append(current)
    return out


@cache
def _full_label(label: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile(_LEAD + label.pattern + _TAIL)


def _after_label(segment: list[Word], label: re.Pattern[str]) -> list[Word] | None:
    """The words of `segment` after `label`, or None if the segment does not start with it.
    A word the label ends inside (e.g. "sinh:05/03/1990") contributes its remainder."""
    folded = [fold(w.text) for w in segment]
    match = _full_label(label).match(" ".join(folded))
    if not match:
        return None
    end, start = match.end(), 0
    for index, (word, text) in enumerate(zip(segment, folded, strict=True)):
        stop = start + len(text)
        if end <= start:
            return segment[index:]
        original = nfc(word.text)
        if end < stop and len(text) == len(original):
            # fold() keeps one letter per precomposed letter, so offsets carry over.
            return [replace(word, text=original[end - start:]), *segment[index + 1:]]
        start = stop + 1
    return []


def _confidence(words: list[Word], repaired: bool) -> float:
    if not words:
        return 0.0
    mean = sum(w.conf for w in words) / len(words) / 100
    return round(mean * (REPAIR_PENALTY if repaired else 1.0), 3)


def _noise(token: str) -> bool:
    return not any(c.isalnum() for c in token)


def _number(words: list[Word], lengths: tuple[int, ...]) -> tuple[str, float] | None:
    used: list[Word] = []
    digits, repaired = "", False
    for word in words:
        got = digits_of(word.text)
        if got is None:
            if used or not _noise(word.text):
                break
            continue  # dotted leaders and stray marks before the number
        used.append(word)
        digits += got[0]
        repaired = repaired or got[1]
    if len(digits) not in lengths:
        return None
    return digits, _confidence(used, repaired)


def _date(words: list[Word]) -> tuple[date, float] | None:
    tokens: list[str] = []
    repaired = False
    for word in words[:8]:
        got = digits_of(word.text)
        if got is not None and got[1]:
            repaired = True
            tokens.append(word.text.translate(str.maketrans("OoIl|", "00111")))
        else:
            tokens.append(word.text)
    text = fold(" ".join(tokens))
    match = _DMY.search(text) or _WORDY_DMY.search(text)
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    if not YEARS[0] <= year <= YEARS[1]:
        return None
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    # The words the match spans: count the spaces before and inside it.
    first = text[: match.start()].count(" ")
    last = first + match.group(0).count(" ")
    return value, _confidence(words[first:last + 1], repaired)


def _name(words: list[Word]) -> tuple[str, float] | None:
    start = 0
    while start < len(words) and _noise(words[start].text):
        start += 1
    names = name_words([w.text for w in words[start:]])
    if not NAME_WORDS[0] <= len(names) <= NAME_WORDS[1]:
        return None
    used = words[start:start + len(names)]
    return nfc(" ".join(names)), _confidence(used, False)


_READERS: dict[FieldName, Callable[[list[Word]], tuple[Any, float] | None]] = {
    FieldName.full_name: _name,
    FieldName.date_of_birth: _date,
    FieldName.id_number: lambda ws: _number(ws, ID_LENGTHS),
    FieldName.social_insurance_code: lambda ws: _number(ws, (SOCIAL_LENGTH,)),
}


def read_fields(words: list[Word], spec: FormSpec, page: int) -> dict[FieldName, FieldValue[Any]]:
    """The best-supported value of each field on one page; fields not found are absent."""
    found: dict[FieldName, FieldValue[Any]] = {}
    segs = segments(words)
    for index, segment in enumerate(segs):
        for name, label in spec.labels.items():
            rest = _after_label(segment, label)
            if rest is None:
                continue
            got = _READERS[name](rest)
            if got is None and index + 1 < len(segs):
                # The value printed under or beside its label, as a segment of its own.
                got = _READERS[name](segs[index + 1])
            if got is None:
                continue
            value, confidence = got
            if name not in found or confidence > found[name].confidence:
                found[name] = FieldValue(value, confidence, page)
    return found

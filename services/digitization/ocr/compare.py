"""Declared against read: numbers and dates must be equal; names are equal up to case and
spacing, and a difference of diacritics alone is reported as its own, weaker kind."""

from __future__ import annotations

from typing import Any

from services.digitization.ocr.model import (
    Declared,
    FieldName,
    FieldValue,
    Mismatch,
    MismatchKind,
)
from services.digitization.ocr.text import fold, nfc


def _name_kind(declared: str, read: str) -> MismatchKind | None:
    # Forms ask for the name in capitals (TK1-TS: "viết chữ in hoa"): case is no difference.
    if nfc(declared).casefold() == nfc(read).casefold():
        return None
    if fold(declared) == fold(read):
        return MismatchKind.diacritics
    return MismatchKind.differs


def mismatches(read: dict[FieldName, FieldValue[Any]], declared: Declared) -> tuple[Mismatch, ...]:
    """The declared fields the form contradicts; a field not declared or not read is not
    compared (`Extraction.missing` says which were not read)."""
    found: list[Mismatch] = []
    for name, value in read.items():
        expected = getattr(declared, name.value)
        if expected is None or value.value is None:
            continue
        if name is FieldName.full_name:
            kind = _name_kind(expected, value.value)
        else:
            same = (str(expected).strip() == str(value.value)) if isinstance(expected, str) \
                else expected == value.value
            kind = None if same else MismatchKind.differs
        if kind is not None:
            found.append(Mismatch(name, kind, value.confidence))
    return tuple(found)

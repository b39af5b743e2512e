"""What an extraction hands back: the fields read, how sure the reader is, and where they
disagree with what the applicant declared. Plain frozen dataclasses, so results cross a
process pool by pickling and carry no behaviour of the OCR engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Generic, TypeVar

T = TypeVar("T", str, date)


class FieldName(StrEnum):
    full_name = "full_name"
    date_of_birth = "date_of_birth"
    id_number = "id_number"
    social_insurance_code = "social_insurance_code"


@dataclass(frozen=True)
class Declared:
    """What the applicant declared at intake; a field left None is not compared."""

    full_name: str | None = None
    date_of_birth: date | None = None
    id_number: str | None = None
    social_insurance_code: str | None = None


@dataclass(frozen=True)
class FieldValue(Generic[T]):
    """One field as read: `value` None when no text of the right shape was found.

    `confidence` (0-1) is the OCR engine's mean word confidence for the value's words,
    lowered when characters had to be repaired (O->0, l->1...) to fit the field's shape.
    """

    value: T | None = None
    confidence: float = 0.0
    page: int | None = None  # 1-based page the value was read on

    @property
    def read(self) -> bool:
        return self.value is not None


class MismatchKind(StrEnum):
    # The read value is another value: another number, another date, another name.
    differs = "differs"
    # Names equal once diacritics are removed: a weaker signal, since OCR of a poor scan
    # loses tone marks more often than it invents letters.
    diacritics = "diacritics"


@dataclass(frozen=True)
class Mismatch:
    """A declared field that the form contradicts. Carries no personal value, so it can
    travel on an event; the officer sees both values in the case."""

    field: FieldName
    kind: MismatchKind
    confidence: float  # the confidence of the read value that disagrees


@dataclass(frozen=True)
class Extraction:
    form_code: str
    full_name: FieldValue[str] = field(default_factory=FieldValue)
    date_of_birth: FieldValue[date] = field(default_factory=FieldValue)
    id_number: FieldValue[str] = field(default_factory=FieldValue)
    social_insurance_code: FieldValue[str] = field(default_factory=FieldValue)
    mismatches: tuple[Mismatch, ...] = ()
    pages_read: int = 0
    rotation: int = 0  # degrees the first page was turned (counter-clockwise) to be upright
    skew: float = 0.0  # degrees of fine deskew applied to the first page

    def fields(self) -> dict[FieldName, FieldValue[Any]]:
        return {name: getattr(self, name.value) for name in FieldName}

    @property
    def missing(self) -> tuple[FieldName, ...]:
        return tuple(name for name, value in self.fields().items() if not value.read)

    def summary(self) -> dict[str, Any]:
        """The extraction without personal values (read or not, confidence, mismatches):
        what may go on a broad event (docs/law.md#personal-data-on-topics)."""
        return {
            "form_code": self.form_code,
            "fields": {
                name.value: {"read": value.read, "confidence": round(value.confidence, 3)}
                for name, value in self.fields().items()
            },
            "mismatches": [
                {"field": m.field.value, "kind": m.kind.value, "confidence": round(m.confidence, 3)}
                for m in self.mismatches
            ],
        }

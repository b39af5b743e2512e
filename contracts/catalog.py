"""Schemas of the reference catalogues (agencies and procedures). Files are validated by
these on load; the law changes them by decree, so every entry is dated."""

from __future__ import annotations

from datetime import date, time
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contracts.common import Code, LegalTime

# Catalogue texts are bounded like every contract text (they are printed on slips).
Name = Annotated[str, Field(min_length=1, max_length=300)]
Text = Annotated[str, Field(max_length=1000)]


class Strict(BaseModel):
    # Catalogue files are written by people: a misspelt key is an error, not ignored.
    model_config = ConfigDict(extra="forbid")


class AgencyLevel(StrEnum):
    central = "central"
    province = "province"
    local = "local"


class OfficeHours(Strict):
    opens: time = time(7, 30)
    closes: time = time(17, 0)


class Agency(Strict):
    code: str = Field(pattern=r"^[0-9A-Z]{3}\.[0-9A-Z]{2}\.[0-9A-Z]{2}\.[0-9A-Z]{3}$",
                      description="e-identifier, Decision 20/2020/QĐ-TTg shape")
    name: Name
    level: AgencyLevel
    parent: Code | None = None
    valid_from: date
    valid_to: date | None = None
    successor: Code | None = None
    office_hours: OfficeHours = OfficeHours()
    closures: list[date] = Field(default_factory=list)

    @model_validator(mode="after")
    def _tree(self) -> Agency:
        if self.level != AgencyLevel.central and not self.parent:
            raise ValueError("a provincial or local agency needs a parent")
        if self.valid_to and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class ComponentSpec(Strict):
    code: Code
    name: Name
    required: bool = True


class StepSpec(Strict):
    code: Code
    name: Name
    department: Name
    share: float = Field(default=1.0, gt=0, description="share of the legal time for this step")


class ProcedureVariant(Strict):
    """A different legal time by who submits (e.g. maternity via employer or employee)."""

    submitter: Literal["individual", "organization"]
    legal_time: LegalTime


class Procedure(Strict):
    code: Code
    name: Name
    field: Name
    legal_time: LegalTime
    source: Text = Field(description="article of the law that fixes the legal time")
    variants: list[ProcedureVariant] = Field(default_factory=list)
    applicant_kinds: list[Literal["individual", "organization"]]
    components: list[ComponentSpec] = Field(min_length=1)
    steps: list[StepSpec] = Field(min_length=1)
    result_type: Name
    agency_levels: list[AgencyLevel] = Field(default_factory=lambda: [AgencyLevel.province,
                                                                      AgencyLevel.local])
    valid_from: date
    valid_to: date | None = None


class CalendarConfig(Strict):
    """Government announcements the `holidays` package may not know yet (Labour Code 2019
    Art. 112 and the yearly notices): extra days off and make-up working days."""

    extra_days_off: list[date] = Field(default_factory=list)
    extra_working_days: list[date] = Field(default_factory=list)


class Catalog(Strict):
    version: Code
    valid_from: date
    # A reorganisation changes the tree, not the procedures: such a version names the
    # earlier one whose procedures it keeps instead of copying them.
    procedures_from: Code | None = Field(
        default=None, description="version whose procedures this one keeps")
    calendar: CalendarConfig = CalendarConfig()
    agencies: list[Agency]
    procedures: list[Procedure] = Field(default_factory=list)

    @model_validator(mode="after")
    def _procedures_given_once(self) -> Catalog:
        if self.procedures_from and self.procedures:
            raise ValueError("give procedures or procedures_from, not both")
        if not self.procedures_from and not self.procedures:
            raise ValueError("a catalogue needs procedures (or procedures_from)")
        return self

"""Value types shared by several events."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

DossierCode = Annotated[str, Field(min_length=3, max_length=64, description="dossier code")]
AgencyCode = Annotated[str, Field(min_length=1, max_length=32, description="agency e-identifier")]


class Contract(BaseModel):
    """Base of every payload: tolerant reader (unknown fields are ignored)."""

    model_config = ConfigDict(extra="ignore")


class Channel(StrEnum):
    counter = "counter"
    postal = "postal"
    online = "online"
    provincial = "provincial"


class ReturnChannel(StrEnum):
    counter = "counter"
    postal = "postal"
    online = "online"


class ComponentForm(StrEnum):
    paper = "paper"
    electronic = "electronic"


class TimeUnit(StrEnum):
    """The unit a legal time is counted in (domain.md section 5)."""

    working_days = "working_days"
    days_excluding_holidays = "days_excluding_holidays"
    hours = "hours"
    same_day = "same_day"


class LegalTime(Contract):
    value: int = Field(ge=0)
    unit: TimeUnit


class ApplicantRef(Contract):
    """What broad topics know of an applicant: the kind and a keyed pseudonym (HMAC)."""

    kind: Literal["individual", "organization"]
    ref: str = Field(min_length=8, max_length=128, description="keyed pseudonym, stable per person")


class IndividualApplicant(Contract):
    kind: Literal["individual"] = "individual"
    full_name: str = Field(min_length=1, max_length=200)
    id_number: str = Field(min_length=9, max_length=12, pattern=r"^[0-9]+$")
    social_insurance_code: str | None = Field(default=None, pattern=r"^[0-9]{10}$")
    address: str | None = None
    phone: str | None = None
    email: str | None = None


class OrganizationApplicant(Contract):
    kind: Literal["organization"] = "organization"
    name: str = Field(min_length=1, max_length=300)
    unit_code: str = Field(min_length=1, max_length=32)
    tax_code: str | None = None
    address: str | None = None
    phone: str | None = None
    email: str | None = None


Applicant = Annotated[IndividualApplicant | OrganizationApplicant, Field(discriminator="kind")]


class ComponentRef(Contract):
    code: str = Field(min_length=1, max_length=64)
    form: ComponentForm
    document_ref: str | None = Field(default=None, description="reference in the data warehouse")
    reused: bool = Field(default=False, description="taken from data already held (seed 002, 3(2))")


class Reason(Contract):
    """One problem or reason, readable by a person in Vietnamese and English."""

    code: str
    message_vi: str
    message_en: str
    field: str | None = None
    legal_basis: str | None = None


class Timeliness(StrEnum):
    early = "early"
    on_time = "on_time"
    late = "late"

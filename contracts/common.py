"""Value types shared by several events."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetPydanticSchema,
    WithJsonSchema,
)
from pydantic_core import CoreSchema
from pydantic_core import core_schema as cs

DossierCode = Annotated[str, Field(min_length=3, max_length=64, description="dossier code")]
AgencyCode = Annotated[str, Field(min_length=1, max_length=32, description="agency e-identifier")]

# Every text of a contract is bounded: an unbounded string is a way to fill a database, a
# log line or a Kafka record (the hostile run got a 20 MB address accepted).
CODE_MAX, SHORT_MAX, LONG_MAX = 64, 200, 2000
Code = Annotated[str, Field(max_length=CODE_MAX)]
ShortText = Annotated[str, Field(max_length=SHORT_MAX, description="a name, title or identifier")]
LongText = Annotated[str, Field(max_length=LONG_MAX, description="text a person reads")]
Address = Annotated[str, Field(max_length=500)]
Phone = Annotated[str, Field(max_length=20)]
Email = Annotated[str, Field(max_length=254)]  # RFC 5321 path limit
DocumentRef = Annotated[str, Field(
    max_length=200,
    description="opaque id of a document in the data warehouse (e.g. doc-7f3a9c2e); never "
    "built from personal numbers such as the ID number or social insurance code")]
MAX_ITEMS = 100  # components, reasons, supplement items: a real dossier has a handful

# Years outside this range are typing mistakes or probes; they also keep tz arithmetic away
# from datetime.min/max, where converting 0001-01-01T00:00+07:00 to UTC overflows.
MIN_YEAR, MAX_YEAR = 2000, 2100
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_only(value: Any) -> Any:
    # Lax mode takes JSON numbers and numeric strings as Unix times; a wire timestamp is an
    # ISO 8601 string. datetime objects built in code pass as they are.
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO.match(value):
        return value
    raise ValueError("a timestamp must be an ISO 8601 string with a time zone offset")


def _sane_year(value: datetime) -> datetime:
    # Checked on the value as given, before any conversion that could overflow.
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


# The same two rules as a pattern of the string itself, the year as given (its first four
# digits, MIN_YEAR..MAX_YEAR spelled out): checked by pydantic-core, not by a call into
# Python. tests/contract/test_limits.py holds both paths to the same verdicts.
_WIRE_TIMESTAMP = r"^(?:20[0-9]{2}|2100)-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}"
_WIRE_MESSAGE = (f"a timestamp must be an ISO 8601 string with a time zone offset, the year "
                 f"between {MIN_YEAR} and {MAX_YEAR}")


def _wire_or_built(source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
    """JSON (every consumed record): the string matched against `_WIRE_TIMESTAMP`, then
    parsed as an aware datetime, all in pydantic-core; the two Python validators cost about
    2 µs a timestamp, a third of parsing a record with three (`python -m bench.parse_cost`).
    Python values (datetimes built in code, dicts a request body became) keep the validators,
    and with them their errors."""
    built = handler(source)
    wire = cs.chain_schema([
        cs.custom_error_schema(cs.str_schema(pattern=_WIRE_TIMESTAMP, strict=True),
                               # "Value error, ...": the type and text a ValueError gives
                               custom_error_type="value_error",
                               custom_error_context={"error": _WIRE_MESSAGE}),
        cs.datetime_schema(tz_constraint="aware")])
    return cs.json_or_python_schema(json_schema=wire, python_schema=built,
                                    serialization=built.get("serialization"))


# The one timestamp type of the contracts; its JSON Schema stays string/date-time.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_iso_only), AfterValidator(_sane_year),
                      GetPydanticSchema(_wire_or_built),
                      WithJsonSchema({"type": "string", "format": "date-time"})]


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
    """The unit a legal time is counted in (docs/law.md#units)."""

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
    social_insurance_code: str | None = Field(default=None, max_length=10, pattern=r"^[0-9]{10}$")
    address: Address | None = None
    phone: Phone | None = None
    email: Email | None = None


class OrganizationApplicant(Contract):
    kind: Literal["organization"] = "organization"
    name: str = Field(min_length=1, max_length=300)
    unit_code: str = Field(min_length=1, max_length=32)
    tax_code: Annotated[str, Field(max_length=20)] | None = None
    address: Address | None = None
    phone: Phone | None = None
    email: Email | None = None


Applicant = Annotated[IndividualApplicant | OrganizationApplicant, Field(discriminator="kind")]


class ComponentRef(Contract):
    code: str = Field(min_length=1, max_length=64)
    form: ComponentForm
    document_ref: DocumentRef | None = None
    reused: bool = Field(default=False, description="taken from data already held "
                         "(Decision 1333/QĐ-BHXH, step 3(2))")


class Reason(Contract):
    """One problem or reason, readable by a person in Vietnamese and English."""

    code: Code
    message_vi: LongText
    message_en: LongText
    field: ShortText | None = None
    legal_basis: LongText | None = None


class Problem(Reason):
    """One problem the system finds, readable by a person in Vietnamese and English; it may
    add facts of its own, e.g. an inactive agency's `successor`."""

    # The one problem type of the rules, the ingest feedback and every HTTP answer. Its facts
    # are shown by HTTP only: an event's field declared `Reason` serializes the Reason's
    # fields alone, so a Problem travels on a topic as a plain Reason (schemas unchanged).
    model_config = ConfigDict(extra="allow")

    @classmethod
    def of(cls, code: str, message_vi: str, message_en: str, field: str | None = None,
           **facts: Any) -> Problem:
        # The texts are often built around what a client or province sent (a path, a key,
        # a consumer's error): clipped to the Reason's bounds rather than refused, so that
        # reporting a problem can never fail and every answer matches its schema.
        return cls(code=code[:CODE_MAX], message_vi=message_vi[:LONG_MAX],
                   message_en=message_en[:LONG_MAX],
                   field=None if field is None else field[:SHORT_MAX], **facts)


class Timeliness(StrEnum):
    early = "early"
    on_time = "on_time"
    late = "late"

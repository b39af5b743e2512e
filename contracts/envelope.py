"""The envelope every event travels in: CloudEvents 1.0 attributes, structured mode.

The body of a Kafka record is this JSON object; W3C trace context travels in the Kafka
headers (`traceparent`), never in the body.

Producers build `Envelope`; consumers read with `InboundEnvelope.model_validate_json(raw)`,
which is stricter (an id is required, the time must be a sane ISO 8601 string), or, knowing
the type, with `typed_inbound(EventClass)`: the same envelope whose `data` is the event, so
the bytes become the typed event in one validation. Parsing the
raw bytes with pydantic-core's JSON parser (jiter) also bounds nesting: past its recursion
limit (200 levels) it raises a ValidationError (`json_invalid`, "recursion limit exceeded"),
where `json.loads` would raise RecursionError on a deep enough body.
"""

from __future__ import annotations

import functools
import os
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, create_model, field_validator

from contracts.common import Timestamp

SPEC_VERSION = "1.0"
TYPE_PREFIX = "vn.gov.bhxh.onestop."

_Attr = Annotated[str, Field(max_length=200)]
# A type starts with TYPE_PREFIX and its last dotted part is its version, vN: a pattern
# pydantic-core checks, where a Python validator cost a call for every envelope read or built.
_VERSIONED_TYPE = r"^" + re.escape(TYPE_PREFIX) + r"(?:.*\.)?v[0-9]+$"


def ordered_uuid(unix_ms: int | None = None) -> uuid.UUID:
    """A UUIDv7 (RFC 9562, section 5.7): 48 bits of Unix time in milliseconds, the version
    and variant bits, then 74 random bits. Ids made later sort later, so the unique indexes
    they key (every service's outbox and inbox, reporting's events) grow at their right edge:
    a random UUIDv4 sends each insert to a random leaf of an index far larger than the
    database's cache, and after every checkpoint each such leaf costs a full-page image in
    the WAL (bench/index_locality.py measures both)."""
    ms = time.time_ns() // 1_000_000 if unix_ms is None else unix_ms
    rand = int.from_bytes(os.urandom(10), "big")
    return uuid.UUID(int=(ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76
                     | (rand >> 62 & 0xFFF) << 64 | 0b10 << 62 | rand & (1 << 62) - 1)


class Envelope(BaseModel):
    """CloudEvents attributes plus the agency extension; `data` is the typed event body."""

    model_config = ConfigDict(extra="ignore")

    specversion: Annotated[str, Field(max_length=16)] = SPEC_VERSION
    id: uuid.UUID = Field(default_factory=ordered_uuid)
    type: Annotated[str, Field(max_length=200, pattern=_VERSIONED_TYPE)] = Field(
        description="e.g. vn.gov.bhxh.onestop.dossier.received.v1")
    source: _Attr = Field(description="the producing service, e.g. onestop/intake")
    subject: _Attr = Field(description="the dossier code this event is about")
    time: AwareDatetime
    agencycode: _Attr = Field(
        description="CloudEvents extension: the agency holding the dossier")
    datacontenttype: Annotated[str, Field(max_length=100)] = "application/json"
    dataschema: Annotated[str, Field(max_length=500)] | None = None
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # On the wire time is always UTC; local time is a presentation concern. Near
        # datetime.min/max the conversion overflows (0001-01-01T00:00+07:00): that is bad
        # input, so a ValueError (a ValidationError to the caller), never an OverflowError.
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError("time is out of the representable range") from None


class InboundEnvelope(Envelope):
    """What a consumer accepts: the producer's id is required (a redelivery keeps it, so it
    can be de-duplicated; an id made up here would differ each time) and the time is a
    `Timestamp` (ISO 8601 string, years 2000..2100). Validate the raw record bytes with
    `model_validate_json`."""

    id: uuid.UUID
    time: Timestamp


@functools.cache
def typed_inbound(event_cls: type[BaseModel]) -> type[InboundEnvelope]:
    """`InboundEnvelope` of one event type (`event_cls.event_type`), `data` validated as
    that event: the record's bytes become the typed event in one `model_validate_json`, and
    `type` can tell the events of a union apart (contracts.registry.inbound)."""
    event_type: str = event_cls.event_type  # type: ignore[attr-defined]
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"Inbound{event_cls.__name__}", __base__=InboundEnvelope,
        type=(Literal[event_type], Field(description=event_type)), data=(event_cls, ...))


@functools.cache
def typed_outbound(event_cls: type[BaseModel]) -> type[Envelope]:
    """`Envelope` whose `data` is the event itself: built and written without turning the
    event into a dict first (the bytes are those of the dict form)."""
    return create_model(  # type: ignore[call-overload,no-any-return]
        f"Outbound{event_cls.__name__}", __base__=Envelope, data=(event_cls, ...))

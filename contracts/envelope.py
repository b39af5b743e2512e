"""The envelope every event travels in: CloudEvents 1.0 attributes, structured mode.

The body of a Kafka record is this JSON object; W3C trace context travels in the Kafka
headers (`traceparent`), never in the body.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

SPEC_VERSION = "1.0"
TYPE_PREFIX = "vn.gov.bhxh.onestop."


class Envelope(BaseModel):
    """CloudEvents attributes plus the agency extension; `data` is the typed event body."""

    model_config = ConfigDict(extra="ignore")

    specversion: str = SPEC_VERSION
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str = Field(description="e.g. vn.gov.bhxh.onestop.dossier.received.v1")
    source: str = Field(description="the producing service, e.g. onestop/intake")
    subject: str = Field(description="the dossier code this event is about")
    time: AwareDatetime
    agencycode: str = Field(description="CloudEvents extension: the agency holding the dossier")
    datacontenttype: str = "application/json"
    dataschema: str | None = None
    data: dict[str, Any]

    @field_validator("time")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # On the wire time is always UTC; local time is a presentation concern.
        return value.astimezone(UTC)

    @field_validator("type")
    @classmethod
    def _versioned(cls, value: str) -> str:
        version = value.rsplit(".", 1)[-1]
        if not value.startswith(TYPE_PREFIX) or not (version[:1] == "v" and version[1:].isdigit()):
            raise ValueError(f"type must start with {TYPE_PREFIX!r} and end with .vN")
        return value

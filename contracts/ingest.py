"""What provincial systems publish to `onestop.ingest.v1`, and the feedback they get.

A province reports in the terms its software already uses: the National Public Service
Portal's status and channel codes (docs/law.md#statuses-and-channels-of-the-national-portal).
One event per status change.

Signature (every record on `onestop.ingest.v1`; the local broker authenticates nobody, so
intake checks who wrote a record by its key). Three Kafka headers, ASCII:

- `onestop-system`: the system id of province_systems.yaml (`hanoi-mcdt`), whose key signs;
- `onestop-timestamp`: when it was signed, Unix time in milliseconds, decimal (`1767225600000`);
- `onestop-signature`: `v1=` and the lowercase hex HMAC-SHA256, under the system's key (its
  UTF-8 bytes), of exactly these bytes:

      b"onestop-ingest-v1\n" + system id + b"\n" + timestamp + b"\n" + the record value

  (the value as sent, byte for byte; the record key is not signed). `sign()` below does it.

Intake refuses a record, before reading anything else of it, with an IngestRejected whose
problem code is `signature_missing` (a header absent), `signature_malformed`,
`signature_unknown_system` (no key for that system), `signature_invalid` (wrong key or altered
bytes), `signature_stale` (signed more than a day ago or over five minutes ahead: a copied
record cannot be replayed later), or `signature_system_mismatch` (a valid signature, but the
event's `system_id` is another system).
"""

from __future__ import annotations

import hashlib
import hmac
from enum import IntEnum
from typing import ClassVar, Literal

from pydantic import Field

from contracts.common import (
    MAX_ITEMS,
    AgencyCode,
    Applicant,
    Code,
    ComponentRef,
    Contract,
    LongText,
    Reason,
    ReturnChannel,
    ShortText,
    Timestamp,
)
from contracts.envelope import TYPE_PREFIX


class PortalStatus(IntEnum):
    """Trạng thái hồ sơ of the National Public Service Portal."""

    registered = 1  # Mới đăng ký
    received = 2  # Được tiếp nhận
    not_received = 3  # Không được tiếp nhận
    processing = 4  # Đang xử lý
    supplement_requested = 5  # Yêu cầu bổ sung giấy tờ
    financial_obligation = 6  # Yêu cầu thực hiện nghĩa vụ tài chính
    withdrawn = 7  # Công dân yêu cầu rút hồ sơ
    stopped = 8  # Dừng xử lý
    resolved = 9  # Đã xử lý xong
    returned = 10  # Đã trả kết quả


class PortalChannel(IntEnum):
    direct = 1  # Trực tiếp
    online = 2  # Trực tuyến
    postal = 3  # Qua bưu chính công ích


class ProvinceStep(Contract):
    step_no: int = Field(ge=1)
    step_code: Code
    department: ShortText
    at: Timestamp
    completed: bool = False


class ProvinceDossierStatus(Contract):
    """One status change of one dossier, as a province's software reports it."""

    event_type: ClassVar[str] = f"{TYPE_PREFIX}ingest.dossier-status.v1"
    system_id: ShortText = Field(min_length=1, description="the reporting province system")
    dossier_code: str = Field(min_length=3, max_length=64)
    agency_code: AgencyCode
    procedure_code: Code
    status: PortalStatus
    channel: PortalChannel | None = None
    occurred_at: Timestamp
    received_at: Timestamp | None = Field(default=None, description="with status 2")
    due_at: Timestamp | None = Field(default=None, description="the province's appointment")
    applicant: Applicant | None = Field(default=None, description="with status 2 and 3")
    components: list[ComponentRef] = Field(default_factory=list, max_length=MAX_ITEMS)
    return_channel: ReturnChannel | None = None
    step: ProvinceStep | None = Field(default=None, description="with status 4")
    decision: Literal["approved", "denied"] | None = Field(default=None, description="status 9")
    reasons: list[Reason] = Field(default_factory=list, max_length=MAX_ITEMS,
                                  description="status 3, 5, 8")
    note: LongText | None = None


class IngestRejected(Contract):
    """Feedback to a province: its event was not applied, and why (every problem)."""

    event_type: ClassVar[str] = f"{TYPE_PREFIX}ingest.rejected.v1"
    dossier_code: ShortText | None = None
    rejected_event_id: ShortText
    system_id: ShortText | None = None
    rejected_at: Timestamp
    # Up to two problems for each of MAX_ITEMS components, plus the dossier's own.
    problems: list[Reason] = Field(min_length=1, max_length=3 * MAX_ITEMS)


# Ids one acknowledgement lists at most (applied, parked and duplicates together): a
# consumer batch with more of one system's records is acknowledged in several events.
MAX_ACKNOWLEDGED = 1000


class IngestAccepted(Contract):
    """Feedback to a province: its events that one consumer batch of intake took in (and
    those it had taken in before), so that every record gets an answer. Keyed, and its
    `subject` set, by `system_id`: a province reads the acknowledgements of its own system.

    An event id is in exactly one list; ids are the envelopes' `id` in canonical form
    (lowercase UUID: compare them as UUIDs). A record sent again after it was answered is
    listed in `duplicates`: the first answer stands (an IngestRejected too, if it was
    refused). A record with no answer on this topic some minutes after it was sent (the
    README says how long) may have been lost before intake read it: send it again, the same
    bytes with the same id, signed anew; intake applies each id once."""

    event_type: ClassVar[str] = f"{TYPE_PREFIX}ingest.accepted.v1"
    system_id: ShortText
    accepted_at: Timestamp
    applied: list[ShortText] = Field(default_factory=list, max_length=MAX_ACKNOWLEDGED,
                                     description="applied in this batch")
    parked: list[ShortText] = Field(
        default_factory=list, max_length=MAX_ACKNOWLEDGED,
        description="kept until the dossier's receipt (status 2) arrives, then applied; "
        "answered by IngestRejected if it is refused then or never arrives")
    duplicates: list[ShortText] = Field(
        default_factory=list, max_length=MAX_ACKNOWLEDGED,
        description="taken in before (the same id and content): the first answer stands")


SYSTEM_HEADER = "onestop-system"
TIMESTAMP_HEADER = "onestop-timestamp"
SIGNATURE_HEADER = "onestop-signature"
SIGNATURE_PREFIX = "v1="
_SCHEME = b"onestop-ingest-v1"


def signed_bytes(system_id: str, timestamp_ms: int, value: bytes | None) -> bytes:
    """What the signature covers (see the module's docstring)."""
    return b"\n".join((_SCHEME, system_id.encode(), str(timestamp_ms).encode(), value or b""))


def signature(key: str | bytes, system_id: str, timestamp_ms: int, value: bytes | None) -> str:
    secret = key.encode() if isinstance(key, str) else key
    digest = hmac.new(secret, signed_bytes(system_id, timestamp_ms, value), hashlib.sha256)
    return SIGNATURE_PREFIX + digest.hexdigest()


def sign(value: bytes | None, system_id: str, key: str | bytes, timestamp_ms: int
         ) -> list[tuple[str, bytes]]:
    """The headers a province sends with `value` (aiokafka's and confluent-kafka's form)."""
    return [(SYSTEM_HEADER, system_id.encode()),
            (TIMESTAMP_HEADER, str(timestamp_ms).encode()),
            (SIGNATURE_HEADER, signature(key, system_id, timestamp_ms, value).encode())]

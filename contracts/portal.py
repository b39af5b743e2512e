"""What the e-one-stop tells the National Public Service Portal (Cổng Dịch vụ công quốc gia):
each status change of a dossier received through the national channels, in the portal's own
codes (`PortalStatus`, `PortalChannel`: the codes provinces report in, contracts/ingest.py).

An HTTP body, not an event of the topic registry: processing POSTs it to the portal's
endpoint with an `Idempotency-Key` header (docs/portal-sync.md). Nothing personal: the
dossier is named by its code, the applicant not at all.
"""

from __future__ import annotations

from pydantic import Field

from contracts.common import AgencyCode, Channel, Code, Contract, DossierCode, Timestamp
from contracts.ingest import PortalChannel, PortalStatus

# The channel of receipt in the portal's codes. A province's record without a channel code
# (Channel.provincial) has none: the portal cannot be told how it came.
PORTAL_CHANNEL: dict[Channel, PortalChannel] = {
    Channel.counter: PortalChannel.direct,
    Channel.online: PortalChannel.online,
    Channel.postal: PortalChannel.postal,
}

IDEMPOTENCY_HEADER = "Idempotency-Key"


class PortalStatusUpdate(Contract):
    """One status change of one dossier, as sent to the portal (schema
    contracts/schemas/portal.status-update.v1.json)."""

    dossier_code: DossierCode
    sequence: int = Field(ge=1, description="this dossier's n-th status sent, from 1, in "
                          "the order they happened: a gap means one is still on its way")
    status: PortalStatus = Field(description="Trạng thái hồ sơ: 1 Mới đăng ký … 10 Đã trả "
                                 "kết quả")
    channel: PortalChannel = Field(description="1 Trực tiếp, 2 Trực tuyến, 3 Qua bưu chính "
                                   "công ích")
    at: Timestamp = Field(description="when the dossier took this status")
    agency_code: AgencyCode = Field(description="the agency that received the dossier")
    procedure_code: Code = Field(description="the procedure, as the catalogue codes it")


def idempotency_key(dossier_code: str, status: PortalStatus, occurrence: int) -> str:
    """One key per change: the dossier, the status, and which time it takes that status
    (a dossier is back at 4 after a supplement: `…:4:2`)."""
    return f"{dossier_code}:{int(status)}:{occurrence}"

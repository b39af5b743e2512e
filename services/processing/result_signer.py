"""The result document's signature, through the one place keys live: digitization's
`POST /api/v1/sign`. Processing signs as a service, so digitization seals the result with
the key of the dossier's office and names the dossier and the deciding leader in the
signature. One interface; without a signing URL (PROCESSING_SIGN_URL empty) the result
stays an unsigned rendering marked CHƯA KÝ SỐ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from contracts.common import Problem
from services.common.errors import Unavailable
from services.common.settings import DEV_SERVICE_KEY


@dataclass(frozen=True)
class Signed:
    document_id: str        # the result's DocumentRef ("doc-…")
    url: str                # where the signed PDF is served
    verification_url: str   # where anyone checks it


class SigningUnavailable(Unavailable):
    """The signing service could not be reached or refused: nothing was issued (503)."""

    def __init__(self, reason: str) -> None:
        super().__init__([Problem.of(
            "signing_unavailable", "Chưa ký số được kết quả; vui lòng thử lại sau",
            f"the result could not be signed; try again later ({reason})", "action")])
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class ResultSigner(Protocol):
    async def sign(self, pdf: bytes, *, dossier_code: str, agency_code: str,
                   decided_by: str | None) -> Signed: ...


class HttpSigner:
    """Digitization's signing route over HTTP; `client` for tests (an ASGI transport)."""

    def __init__(self, url: str, timeout: float = 30.0,
                 client: httpx.AsyncClient | None = None,
                 api_key: str = DEV_SERVICE_KEY) -> None:
        self.url = url
        self.client = client or httpx.AsyncClient(timeout=timeout)
        self.api_key = api_key  # processing signs as a service (auth.py's internal_service)

    async def sign(self, pdf: bytes, *, dossier_code: str, agency_code: str,
                   decided_by: str | None) -> Signed:
        # Sealed by the dossier's office (its key lives in digitization), for the leader
        # who decided: processing's officers hold no keys.
        params = {"document_type": "result", "dossier_code": dossier_code,
                  "agency_code": agency_code}
        if decided_by:
            params["decided_by"] = decided_by
        try:
            r = await self.client.post(self.url, content=pdf, params=params,
                                       headers={"content-type": "application/pdf",
                                                "X-API-Key": self.api_key})
        except httpx.HTTPError as exc:
            raise SigningUnavailable(f"signing service unreachable: {exc!r}") from exc
        if r.status_code != 201:
            raise SigningUnavailable(f"signing service answered {r.status_code}: "
                                     f"{r.text[:300]}")
        body = r.json()
        return Signed(body["document_id"], body["url"], body["verification_url"])

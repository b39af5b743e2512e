"""Is a document already held for this applicant? (docs/law.md#data-already-held: data already held
is not asked for again). One interface; the setting INTAKE_WAREHOUSE_URL chooses: the
digitization service's warehouse over HTTP, or, unset, no check at all, which every
reused component then records (`reuse_verified: false`)."""

from __future__ import annotations

from typing import Protocol

import httpx

from contracts.common import Problem
from services.common.errors import Unavailable
from services.common.settings import DEV_SERVICE_KEY

# The one lookup: the reference travels as query data, so no part of it (a "/", "..",
# "%2F") can change which resource is asked.
LOOKUP_PATH = "/api/v1/warehouse/documents"


class WarehouseUnavailable(Unavailable):
    """The warehouse could not be asked (or did not answer as the warehouse): 503, and
    receipt waits for it rather than recording an unchecked reuse."""

    def __init__(self, reason: str) -> None:
        super().__init__([Problem.of(
            "warehouse_unavailable", "Không kiểm tra được kho dữ liệu; vui lòng thử lại",
            "the data warehouse could not be asked; try again", "components")])
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class Warehouse(Protocol):
    checks: bool

    async def holds(self, applicant_ref: str, document_ref: str) -> bool: ...


class UncheckedWarehouse:
    checks = False

    async def holds(self, applicant_ref: str, document_ref: str) -> bool:
        return True


class HttpWarehouse:
    checks = True

    def __init__(self, base_url: str, timeout: float = 5.0,
                 api_key: str = DEV_SERVICE_KEY) -> None:
        # Intake asks as a service (auth.py's internal_service), with its own API key.
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                        headers={"X-API-Key": api_key})

    async def holds(self, applicant_ref: str, document_ref: str) -> bool:
        try:
            response = await self.client.get(LOOKUP_PATH, params={
                "applicant_ref": applicant_ref, "document_ref": document_ref})
        except httpx.HTTPError as exc:
            raise WarehouseUnavailable(repr(exc)) from exc
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise WarehouseUnavailable(f"warehouse answered {response.status_code}")
        # A 200 is not enough (a proxy or a health page answers 200 too): only an answer
        # naming this very applicant and document counts as held. Any other 200 means we
        # are not talking to the warehouse: say so (503), never "held" nor "not held".
        try:
            body = response.json()
        except ValueError as exc:
            raise WarehouseUnavailable("warehouse answered 200 without JSON") from exc
        if not (isinstance(body, dict) and body.get("applicant_ref") == applicant_ref
                and body.get("document_ref") == document_ref):
            raise WarehouseUnavailable("warehouse answered 200 about another document")
        return True


def warehouse_from(url: str | None, api_key: str = DEV_SERVICE_KEY) -> Warehouse:
    return HttpWarehouse(url, api_key=api_key) if url else UncheckedWarehouse()

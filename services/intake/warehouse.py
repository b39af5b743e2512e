"""Is a document already held for this applicant? (seed 002, step 3(2): data already held
is not asked for again). One interface; the setting INTAKE_WAREHOUSE_URL chooses: the
digitization service's warehouse over HTTP, or, unset, no check at all, which every
reused component then records (`reuse_verified: false`)."""

from __future__ import annotations

from typing import Protocol
from urllib.parse import quote

import httpx


class WarehouseUnavailable(Exception):
    pass


class Warehouse(Protocol):
    checks: bool

    async def holds(self, applicant_ref: str, document_ref: str) -> bool: ...


class UncheckedWarehouse:
    checks = False

    async def holds(self, applicant_ref: str, document_ref: str) -> bool:
        return True


class HttpWarehouse:
    checks = True

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.client = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    async def holds(self, applicant_ref: str, document_ref: str) -> bool:
        url = f"/api/v1/warehouse/{quote(applicant_ref)}/documents/{quote(document_ref)}"
        try:
            response = await self.client.get(url)
        except httpx.HTTPError as exc:
            raise WarehouseUnavailable(repr(exc)) from exc
        if response.status_code == 404:
            return False
        if response.status_code != 200:
            raise WarehouseUnavailable(f"warehouse answered {response.status_code}")
        return True


def warehouse_from(url: str | None) -> Warehouse:
    return HttpWarehouse(url) if url else UncheckedWarehouse()

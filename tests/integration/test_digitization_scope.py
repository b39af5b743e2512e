"""Documents and the warehouse answer within the caller's agency tree, like dossiers: over
the real broker and real HTTP, Hồ Chí Minh City's counter officer, processing officer, head
and leader cannot download a Hà Nội applicant's scanned component nor the result signed for
their dossier (404, as if they did not exist), nor list or look up what the warehouse holds
of them; Hà Nội's people and our own services (national API key) can. A dossier of the
caller's tree that reused a document opens that document to the tree, and no other."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import img2pdf
import pytest

from contracts import topics
from contracts.common import ApplicantRef, Channel, ComponentRef, LegalTime, ReturnChannel
from contracts.events import DossierReceived, ResultIssued
from services.common.settings import DEV_SERVICE_KEY
from tests.auth import bearer
from tests.integration.support import eventually
from tests.integration.test_digitization_scan import digitization, png, publish

pytestmark = pytest.mark.integration

HANOI, CAU_GIAY = "000.00.01.H26", "000.01.02.H26"
HCMC, SAI_GON = "000.00.79.H29", "000.79.01.H29"
ROLES = ("counter_officer", "processing_officer", "department_head", "office_leader")
SERVICE = {"X-API-Key": DEV_SERVICE_KEY}


def received(code: str, agency: str, applicant: str, *components: ComponentRef
             ) -> DossierReceived:
    at = datetime.now(UTC) - timedelta(hours=1)
    return DossierReceived(
        dossier_code=code, agency_code=agency, procedure_code="BHXH.NH.03",
        catalog_version="2025.07", channel=Channel.counter, return_channel=ReturnChannel.counter,
        received_at=at, due_at=at + timedelta(days=7),
        legal_time=LegalTime(value=5, unit="working_days"),
        applicant=ApplicantRef(kind="individual", ref=applicant), components=list(components))


def as_(role: str, agency: str) -> dict[str, str]:
    return bearer(role, f"{role}-{agency}", agency)


async def test_documents_and_the_warehouse_stay_within_the_callers_tree(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    applicant, only_hanoi = f"p1_scope_{unique}", f"p1_scope_hn_{unique}"
    hn, hcm = f"{CAU_GIAY}-260401-S{unique}", f"{SAI_GON}-260401-S{unique}"
    reuse = f"{SAI_GON}-260401-R{unique}"
    async with digitization(kafka_bootstrap, database_url, tmp_path) as (runtime, url), \
            httpx.AsyncClient(base_url=url, timeout=60) as http:
        await publish(runtime, kafka_bootstrap, (topics.INTAKE, received(
            hn, CAU_GIAY, applicant, ComponentRef(code="GKS", form="paper"),
            ComponentRef(code="GCN", form="electronic", document_ref=f"doc-hn-{unique}"))),
            (topics.INTAKE, received(hcm, SAI_GON, applicant, ComponentRef(
                code="GCN", form="electronic", document_ref=f"doc-hcm-{unique}"))),
            (topics.INTAKE, received(f"{hn}-2", CAU_GIAY, only_hanoi, ComponentRef(
                code="GCN", form="electronic", document_ref=f"doc-hn2-{unique}"))))

        async def known() -> bool:
            return all([(await http.get(f"/api/v1/dossiers/{c}", headers=SERVICE)
                         ).status_code == 200 for c in (hn, hcm, f"{hn}-2")])
        await eventually(known, "digitization to know the three dossiers")

        # Hà Nội's counter officer scans; our processing service has the result signed.
        scan = await http.post(f"/api/v1/dossiers/{hn}/components/GKS/scan",
                               headers=as_("counter_officer", HANOI),
                               files={"pages": ("gks.png", png())})
        assert scan.status_code == 201, scan.text
        component = scan.json()["document_id"]
        signed = await http.post("/api/v1/sign", content=img2pdf.convert(png()),
                                 params={"dossier_code": hn, "agency_code": CAU_GIAY,
                                         "document_type": "result"},
                                 headers={**SERVICE, "content-type": "application/pdf"})
        assert signed.status_code == 201, signed.text
        decision = signed.json()["document_id"]
        await publish(runtime, kafka_bootstrap, (topics.RESULTS, ResultIssued(
            dossier_code=hn, agency_code=CAU_GIAY, procedure_code="BHXH.NH.03",
            applicant=ApplicantRef(kind="individual", ref=applicant),
            issued_at=datetime.now(UTC), result_code="KQ-1", result_type="Quyết định",
            document_ref=decision)))

        async def listed(headers: dict[str, str], ref: str = applicant) -> dict[str, Any]:
            answer = await http.get(f"/api/v1/warehouse/{ref}/documents", headers=headers)
            if answer.status_code == 404:
                return {}
            assert answer.status_code == 200, answer.text
            return {d["document_ref"]: d for d in answer.json()["documents"]}

        async def result_filed() -> bool:
            return decision in await listed(SERVICE)
        await eventually(result_filed, "the decision filed in the warehouse")

        hanoi_docs = {component, decision, f"doc-hn-{unique}"}
        for role in ROLES:
            outsider, insider = as_(role, HCMC), as_(role, HANOI)
            for doc in (component, decision):
                away = await http.get(f"/api/v1/documents/{doc}", headers=outsider)
                assert away.status_code == 404, (role, doc, away.text)
                assert away.json()["problems"][0]["code"] == "not_found"
                assert (await http.get(f"/api/v1/documents/{doc}", headers=insider)
                        ).status_code == 200, (role, doc)
            # The applicant's warehouse as each tree holds it.
            assert set(await listed(outsider)) == {f"doc-hcm-{unique}"}, role
            assert set(await listed(insider)) == hanoi_docs, role
            # Nothing of this applicant in Hồ Chí Minh City: not found, as if none.
            nothing = await http.get(f"/api/v1/warehouse/{only_hanoi}/documents",
                                     headers=outsider)
            assert nothing.status_code == 404, (role, nothing.text)
            assert set(await listed(insider, only_hanoi)) == {f"doc-hn2-{unique}"}
            for doc in (component, decision):
                ask = {"applicant_ref": applicant, "document_ref": doc}
                assert (await http.get("/api/v1/warehouse/documents", params=ask,
                                       headers=outsider)).status_code == 404, (role, doc)
                assert (await http.get("/api/v1/warehouse/documents", params=ask,
                                       headers=insider)).status_code == 200, (role, doc)
        # A district office sees its own dossier's papers; our services see every tree.
        assert (await http.get(f"/api/v1/documents/{component}",
                               headers=as_("processing_officer", CAU_GIAY))).status_code == 200
        assert set(await listed(SERVICE)) == hanoi_docs | {f"doc-hcm-{unique}"}
        assert (await http.get(f"/api/v1/documents/{decision}", headers=SERVICE)
                ).status_code == 200

        # A document held from elsewhere belongs to the agency that recorded it.
        held = await http.post(f"/api/v1/warehouse/{applicant}/documents",
                               json={"document_ref": f"doc-db-{unique}"},
                               headers=as_("counter_officer", HCMC))
        assert held.status_code == 201 and held.json()["agency_code"] == HCMC
        assert f"doc-db-{unique}" in await listed(as_("counter_officer", HCMC))
        assert f"doc-db-{unique}" not in await listed(as_("counter_officer", HANOI))
        other_tree = await http.post(f"/api/v1/warehouse/{applicant}/documents",
                                     json={"document_ref": "doc-x", "agency_code": HANOI},
                                     headers=as_("counter_officer", HCMC))
        assert other_tree.status_code == 403
        assert other_tree.json()["problems"][0]["code"] == "out_of_scope"

        # Reused by a dossier of Hồ Chí Minh City for the same applicant (intake checked
        # the warehouse): the scan is open to that tree, and listed with its reuse.
        await publish(runtime, kafka_bootstrap, (topics.INTAKE, received(
            reuse, SAI_GON, applicant, ComponentRef(code="GKS", form="electronic",
                                                    document_ref=component, reused=True))))

        async def reused() -> bool:
            return (await http.get(f"/api/v1/dossiers/{reuse}", headers=SERVICE)
                    ).status_code == 200
        await eventually(reused, "digitization to know the reusing dossier")
        outsider = as_("processing_officer", HCMC)
        assert (await http.get(f"/api/v1/documents/{component}", headers=outsider)
                ).status_code == 200
        seen = await listed(outsider)
        assert set(seen) == {f"doc-hcm-{unique}", f"doc-db-{unique}", component}
        assert seen[component]["reused_in"] == [reuse]
        assert (await http.get(f"/api/v1/documents/{decision}", headers=outsider)
                ).status_code == 404
        # Hà Nội is not shown Hồ Chí Minh City's dossier among the reuses.
        assert (await listed(as_("processing_officer", HANOI)))[component]["reused_in"] == []

"""Signatures follow the signer, over real HTTP with real PAdES signatures: the key is the
caller's token's, never a form field or a query. A leader signs with their own key and the
verification names them and their office; a counter officer's scan is signed with their
own key; a form or query naming someone else is refused (403 officer_not_caller); our
processing service seals a result with the key of the dossier's office and names the
deciding leader in the signature. With keys only from settings (as in production), a caller
without a key of their own gets 403 no_signing_key and nothing is minted."""

from __future__ import annotations

from pathlib import Path

import httpx
import img2pdf
import pytest

from contracts import topics
from contracts.common import ComponentRef
from services.common.http.auth import issue_token
from services.common.settings import DEV_SERVICE_KEY
from services.digitization.pki import ensure_dev_ca, ensure_holder_key, pki_dir
from tests.auth import bearer
from tests.integration.support import eventually
from tests.integration.test_digitization_scan import digitization, png, publish
from tests.integration.test_digitization_scope import (
    CAU_GIAY,
    HANOI,
    HCMC,
    SAI_GON,
    received,
)

pytestmark = pytest.mark.integration

SERVICE = {"X-API-Key": DEV_SERVICE_KEY}
PDF = {"content-type": "application/pdf"}
HCMC_NAME = "Bảo hiểm xã hội Thành phố Hồ Chí Minh"
HANOI_NAME = "Bảo hiểm xã hội thành phố Hà Nội"
CAU_GIAY_NAME = "Bảo hiểm xã hội cơ sở Cầu Giấy"


def person(role: str, user: str, agency: str, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(role, user=user, name=name, agency=agency)}"}


async def test_the_key_is_the_callers_and_the_signature_names_them(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"
    hn, hcm = f"{CAU_GIAY}-260401-K{unique}", f"{SAI_GON}-260401-K{unique}"
    leader = person("office_leader", "ld-hcm-01", HCMC, "Lê Văn Hùng")
    counter = person("counter_officer", "cb-hn-07", HANOI, "Nguyễn Thị Lan")
    async with digitization(kafka_bootstrap, db, tmp_path) as (runtime, url), \
            httpx.AsyncClient(base_url=url, timeout=60) as http:
        await publish(runtime, kafka_bootstrap,
                      (topics.INTAKE, received(hn, CAU_GIAY, f"p1_k_{unique}", ComponentRef(
                          code="GKS", form="paper"))),
                      (topics.INTAKE, received(hcm, SAI_GON, f"p1_k2_{unique}", ComponentRef(
                          code="GKS", form="paper"))))

        async def known() -> bool:
            return all([(await http.get(f"/api/v1/dossiers/{c}", headers=SERVICE)
                         ).status_code == 200 for c in (hn, hcm)])
        await eventually(known, "digitization to know the dossier")

        async def verdict(document_id: str) -> dict[str, str]:
            answer = await http.get(f"/api/v1/documents/{document_id}/verify")
            assert answer.status_code == 200, answer.text
            return answer.json()

        # --- a province's leader signs with their own key, not the national result key ---
        own = await http.post("/api/v1/sign", content=img2pdf.convert(png()), headers={
            **leader, **PDF}, params={"dossier_code": hcm})
        assert own.status_code == 201, own.text
        said = await verdict(own.json()["document_id"])
        assert said["valid"] and said["trusted"], said
        assert (said["signer"], said["signer_office"]) == ("Lê Văn Hùng", HCMC_NAME)
        assert hcm in said["signing_reason"]
        assert own.json()["signer_office"] == HCMC_NAME
        # ...and cannot pick another key by the query, nor sign for another tree's dossier.
        for params, status, problem in (({"officer": "ketqua-01"}, 403, "officer_not_caller"),
                                        ({"decided_by": "Trần Văn Minh"}, 403,
                                         "officer_not_caller"),
                                        ({"dossier_code": hn}, 404, "not_found"),
                                        ({"agency_code": HANOI}, 403, "out_of_scope")):
            refused = await http.post("/api/v1/sign", content=img2pdf.convert(png()),
                                      headers={**leader, **PDF}, params=params)
            assert refused.status_code == status, (params, refused.text)
            assert refused.json()["problems"][0]["code"] == problem

        # --- a counter officer's scan: their key, whatever the form says ---
        scan = f"/api/v1/dossiers/{hn}/components/GKS/scan"
        other = await http.post(scan, headers=counter, files={"pages": ("a.png", png())},
                                data={"officer": "tnhs-01"})
        assert other.status_code == 403, other.text
        assert other.json()["problems"][0]["code"] == "officer_not_caller"
        done = await http.post(scan, headers=counter, files={"pages": ("a.png", png())},
                               data={"officer": "cb-hn-07"})
        assert done.status_code == 201, done.text
        said = await verdict(done.json()["document_id"])
        assert (said["signer"], said["signer_office"]) == ("Nguyễn Thị Lan", HANOI_NAME)

        # --- our processing service: the dossier's office seals, naming the leader ---
        sealed = await http.post("/api/v1/sign", content=img2pdf.convert(png()), headers={
            **SERVICE, **PDF}, params={"dossier_code": hn, "agency_code": CAU_GIAY,
                                       "decided_by": "Phạm Thị Hòa"})
        assert sealed.status_code == 201, sealed.text
        said = await verdict(sealed.json()["document_id"])
        assert said["valid"] and said["trusted"], said
        assert (said["signer"], said["signer_office"]) == (CAU_GIAY_NAME, CAU_GIAY_NAME)
        assert hn in said["signing_reason"] and "Phạm Thị Hòa" in said["signing_reason"]
        for params, problem in (({}, "dossier_required"),
                                ({"dossier_code": hn, "agency_code": SAI_GON},
                                 "agency_mismatch"),
                                ({"dossier_code": f"{hn}-unknown"}, "agency_required"),
                                ({"dossier_code": f"{hn}-unknown", "agency_code": "000.99.99.X"},
                                 "unknown_agency")):
            refused = await http.post("/api/v1/sign", content=img2pdf.convert(png()),
                                      headers={**SERVICE, **PDF}, params=params)
            assert refused.status_code == 422, (params, refused.text)
            assert refused.json()["problems"][0]["code"] == problem
        # A dossier not received here (yet): the office the service names seals it.
        elsewhere = await http.post("/api/v1/sign", content=img2pdf.convert(png()), headers={
            **SERVICE, **PDF}, params={"dossier_code": f"{hn}-unknown", "agency_code": HCMC})
        assert elsewhere.status_code == 201, elsewhere.text
        assert (await verdict(elsewhere.json()["document_id"]))["signer"] == HCMC_NAME


async def test_keys_only_from_settings_none_minted(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    """As in production: keys only from DIGITIZATION_OFFICER_KEYS and
    DIGITIZATION_OFFICE_KEYS (made here by a CA of the test's own), no development CA."""
    issued = tmp_path / "issued"
    ca = ensure_dev_ca(issued)
    leader_key = ensure_holder_key(issued, "person", "ld-hn-01", "Đỗ Văn Quyết", HANOI_NAME)
    seal = ensure_holder_key(issued, "office", CAU_GIAY, CAU_GIAY_NAME, CAU_GIAY_NAME)
    var = tmp_path / "var"
    async with digitization(kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'd.db'}", var,
                            dev_pki=False, trust_roots=[ca],
                            officer_keys={"ld-hn-01": leader_key},
                            office_keys={CAU_GIAY: seal}) as (_, url), \
            httpx.AsyncClient(base_url=url, timeout=60) as http:
        mine = await http.post("/api/v1/sign", content=img2pdf.convert(png()), headers={
            **person("office_leader", "ld-hn-01", HANOI, "Đỗ Văn Quyết"), **PDF})
        assert mine.status_code == 201, mine.text
        said = (await http.get(f"/api/v1/documents/{mine.json()['document_id']}/verify")).json()
        assert said["valid"] and said["signer"] == "Đỗ Văn Quyết", said

        # A leader with no key of their own: refused, not signed with someone else's.
        keyless = await http.post("/api/v1/sign", content=img2pdf.convert(png()), headers={
            **person("office_leader", "ld-hn-02", HANOI, "Vũ Thị Mai"), **PDF})
        assert keyless.status_code == 403, keyless.text
        problem = keyless.json()["problems"][0]
        assert problem["code"] == "no_signing_key" and problem["message_vi"]
        # An office with no seal configured: the service is refused the same way.
        unsealed = await http.post("/api/v1/sign", content=img2pdf.convert(png()), headers={
            **SERVICE, **PDF}, params={"dossier_code": f"{SAI_GON}-260401-N{unique}",
                                       "agency_code": SAI_GON})
        assert unsealed.status_code == 403
        assert unsealed.json()["problems"][0]["code"] == "no_signing_key"
        sealed = await http.post("/api/v1/sign", content=img2pdf.convert(png()), headers={
            **SERVICE, **PDF}, params={"dossier_code": f"{CAU_GIAY}-260401-N{unique}",
                                       "agency_code": CAU_GIAY, "decided_by": "Đỗ Văn Quyết"})
        assert sealed.status_code == 201, sealed.text
    assert not pki_dir(var).exists()  # nothing minted, no development CA


async def test_a_caller_names_only_themselves_in_the_form(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    """The form field is optional; naming oneself by `sub` or by name is the same call."""
    code = f"{CAU_GIAY}-260401-F{unique}"
    async with digitization(kafka_bootstrap, f"sqlite+aiosqlite:///{tmp_path / 'd.db'}",
                            tmp_path) as (runtime, url), \
            httpx.AsyncClient(base_url=url, timeout=60) as http:
        await publish(runtime, kafka_bootstrap, (topics.INTAKE, received(
            code, CAU_GIAY, f"p1_f_{unique}", ComponentRef(code="A", form="paper"),
            ComponentRef(code="B", form="paper"))))

        async def known() -> bool:
            return (await http.get(f"/api/v1/dossiers/{code}", headers=SERVICE)
                    ).status_code == 200
        await eventually(known, "digitization to know the dossier")
        me = bearer("counter_officer", "cb-cg-01", CAU_GIAY)
        for component, officer in (("A", "cb-cg-01"), ("B", None)):
            done = await http.post(f"/api/v1/dossiers/{code}/components/{component}/scan",
                                   headers=me, files={"pages": ("a.png", png())},
                                   data={"officer": officer} if officer else None)
            assert done.status_code == 201, done.text
            assert done.json()["signer"] == "cb-cg-01"
            assert done.json()["signer_office"] == CAU_GIAY_NAME

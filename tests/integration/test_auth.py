"""Who may do what, over HTTP against real runtimes: 401 without a credential (and without
an agency), 403 naming the permission, every answer within the caller's agency tree, the
officer from the token, and the citizens' lookup (code + last four ID digits,
rate-limited, nothing personal, the same work whether the code exists or not)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from services.common.http.auth import issue_token
from services.common.persistence import sealed_columns
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings
from services.processing.app import build as build_processing
from services.processing.settings import ProcessingSettings
from services.product.roles import Role
from tests.auth import bearer
from tests.integration.support import settings_for, started

pytestmark = pytest.mark.integration
BA_DINH, HANOI, SAIGON = "000.01.01.H26", "000.00.01.H26", "000.79.01.H29"
ID_NUMBER = "001085009876"


def dossier(n: str, agency: str = BA_DINH, **more: object) -> dict:
    return {"agency_code": agency, "procedure_code": "BHXH.NH.03", "channel": "counter",
            "applicant": {"kind": "individual", "full_name": "Phạm Thị Lan",
                          "id_number": ID_NUMBER, "phone": "0912345678"},
            "components": [{"code": "GKS", "form": "electronic"}],
            "submission_id": f"auth-{n}", **more}


def problems(r: httpx.Response, status: int) -> list[str]:
    assert r.status_code == status, r.text
    return [p["code"] for p in r.json()["problems"]]


async def test_intake_asks_who_calls_and_keeps_to_their_tree(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    settings = settings_for(IntakeSettings, kafka_bootstrap,
                            f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", tmp_path)
    runtime = await started(build_intake(settings.model_copy(
        update={"public_lookups_per_minute": 2})))
    counter = bearer(Role.counter_officer, user="Lê Thị Mai", agency=BA_DINH)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://intake") as c:
            # No credential, a bad one: 401, and the client is told how to authenticate.
            r = await c.post("/api/v1/dossiers", json=dossier(unique))
            assert problems(r, 401) == ["unauthenticated"]
            assert r.headers["www-authenticate"] == "Bearer"
            r = await c.get("/api/v1/dossiers", headers={"Authorization": "Bearer nonsense"})
            assert problems(r, 401) == ["invalid_token"]
            # A role without the permission: 403 naming it.
            r = await c.post("/api/v1/dossiers", json=dossier(unique),
                             headers=bearer(Role.national_monitor))
            assert problems(r, 403) == ["forbidden"]
            assert r.json()["missing_permission"] == "dossier:receive"
            # Not at another tree's counter, nor under another officer's name.
            r = await c.post("/api/v1/dossiers", json=dossier(unique, SAIGON), headers=counter)
            assert problems(r, 403) == ["out_of_scope"]
            r = await c.post("/api/v1/dossiers", json=dossier(unique, officer="Người Khác"),
                             headers=counter)
            assert problems(r, 403) == ["officer_not_caller"]

            r = await c.post("/api/v1/dossiers", json=dossier(unique), headers=counter)
            assert r.status_code == 201, r.text
            code = r.json()["dossier_code"]
            audit = await runtime.audit.verify()
            assert audit.ok

            # Read within the tree (the office, its province, the nation), not outside it.
            saigon = bearer(Role.counter_officer, agency=SAIGON)
            for headers, status in ((counter, 200), (bearer(Role.department_head,
                                                            agency=HANOI), 200),
                                    (bearer(Role.national_monitor), 200), (saigon, 404)):
                assert (await c.get(f"/api/v1/dossiers/{code}", headers=headers)
                        ).status_code == status
            assert (await c.get(f"/api/v1/dossiers/{code}/receipt.pdf", headers=saigon)
                    ).status_code == 404
            listed = (await c.get("/api/v1/dossiers", headers=saigon)).json()["items"]
            assert code not in {d["dossier_code"] for d in listed}
            mine = (await c.get("/api/v1/dossiers", headers=counter)).json()["items"]
            assert code in {d["dossier_code"] for d in mine}
            assert problems(await c.get("/api/v1/dossiers", params={"agency": SAIGON},
                                        headers=counter), 403) == ["out_of_scope"]
            # Another tree cannot withdraw it either (and learns nothing of it).
            r = await c.post(f"/api/v1/dossiers/{code}/withdrawal", json={}, headers=saigon)
            assert r.status_code == 404
            # The national monitor sees the status but prints no slip with personal data.
            r = await c.get(f"/api/v1/dossiers/{code}/receipt.pdf",
                            headers=bearer(Role.national_monitor))
            assert r.json()["missing_permission"] == "personal:read"

            # The citizens' lookup: code and the last four ID digits, nothing personal.
            r = await c.get(f"/api/v1/public/dossiers/{code}",
                            params={"id_last4": ID_NUMBER[-4:]})
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "received" and r.json()["dossier_code"] == code
            assert not {"applicant", "full_name", "id_number", "phone"} & set(r.json())
            assert ID_NUMBER not in r.text and "Phạm" not in r.text
            r = await c.get(f"/api/v1/public/dossiers/{code}", params={"id_last4": "0000"})
            assert problems(r, 404) == ["not_found"]  # the same answer as no such code
            r = await c.get(f"/api/v1/public/dossiers/{code}",
                            params={"id_last4": ID_NUMBER[-4:]})
            assert problems(r, 429) == ["rate_limited"]
            assert int(r.headers["retry-after"]) > 0
    finally:
        await runtime.stop()


async def test_each_officer_action_needs_its_own_permission(tmp_path: Path) -> None:
    settings = settings_for(ProcessingSettings, "127.0.0.1:1",
                            f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", tmp_path)
    runtime = build_processing(settings)
    await runtime.migrate()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://processing") as c:
            url = "/api/v1/cases/000.01.01.H26-260302-0001/actions"
            for action, role, missing in (("approve", Role.processing_officer, "case:decide"),
                                          ("claim", Role.office_leader, "case:process"),
                                          ("record_return", Role.processing_officer,
                                           "case:return")):
                r = await c.post(url, json={"action": action}, headers=bearer(role))
                assert r.status_code == 403, r.text
                assert r.json()["missing_permission"] == missing
            # Allowed: then the case itself is looked for (none here).
            r = await c.post(url, json={"action": "approve"},
                             headers=bearer(Role.office_leader))
            assert r.status_code == 404
            r = await c.get("/api/v1/cases", headers=bearer(Role.ops))
            assert r.json()["missing_permission"] == "dossier:read"
    finally:
        await runtime.engine.dispose()


async def test_the_lookup_opens_as_much_for_an_unknown_code_as_for_wrong_digits(
        kafka_bootstrap: str, tmp_path: Path, unique: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong code used to answer before anything was unsealed, wrong digits after: the
    time told whether a code exists. Both now open the same number of sealed values."""
    settings = settings_for(IntakeSettings, kafka_bootstrap,
                            f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", tmp_path)
    runtime = await started(build_intake(settings))
    opened: list[str] = []
    unseal = sealed_columns.open_text

    def counting(value: str) -> str:
        opened.append(value[:8])
        return unseal(value)

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://intake") as c:
            r = await c.post("/api/v1/dossiers", json=dossier(f"lookup-{unique}"),
                             headers=bearer(Role.counter_officer, user="Lê Thị Mai",
                                            agency=BA_DINH))
            assert r.status_code == 201, r.text
            code = r.json()["dossier_code"]
            monkeypatch.setattr(sealed_columns, "open_text", counting)
            counts = {}
            for name, asked, last4 in (("wrong digits", code, "0000"),
                                       ("unknown code", code[:-4] + "9999", "0000"),
                                       ("unknown code again", code[:-4] + "9998",
                                        ID_NUMBER[-4:])):
                opened.clear()
                r = await c.get(f"/api/v1/public/dossiers/{asked}",
                                params={"id_last4": last4})
                assert problems(r, 404) == ["not_found"]
                counts[name] = len(opened)
            assert counts["wrong digits"] >= 1
            assert set(counts.values()) == {counts["wrong digits"]}, counts
    finally:
        await runtime.stop()


async def test_a_persons_token_without_an_agency_is_refused_not_national(
        tmp_path: Path) -> None:
    settings = settings_for(ProcessingSettings, "127.0.0.1:1",
                            f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", tmp_path)
    runtime = build_processing(settings)
    await runtime.migrate()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=runtime.app),
                                     base_url="http://processing") as c:
            for agency in (None, ""):
                token = issue_token(Role.national_monitor, agency=agency)
                r = await c.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
                assert problems(r, 401) == ["no_agency"]
            r = await c.get("/api/v1/cases", headers=bearer(Role.national_monitor))
            assert r.status_code == 200  # the explicit national claim
    finally:
        await runtime.engine.dispose()

"""Intake's public routes for the citizens' page, over the real broker and database (SQLite
and PostgreSQL): the lookup answers the stage in plain Vietnamese, the appointment and the
path; the rating route checks the code and the last four digits exactly as the lookup does
(an unknown code and wrong digits get the same 404, after the same work), spends the same
per-address allowance (429 with Retry-After past it), and says 503 when reporting cannot be
asked, never that the rating was taken; the counter gets the applicant's pseudonym for the
warehouse from a number sent in the body, under `warehouse:read`."""

from __future__ import annotations

import httpx
import pytest

from services.common.runtime import Runtime
from services.intake.app import build
from services.intake.settings import IntakeSettings
from tests.auth import AUTH, bearer
from tests.integration.support import settings_for, started

pytestmark = pytest.mark.integration
ID_NUMBER = "001190054321"


def client(runtime: Runtime) -> httpx.AsyncClient:
    return httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=runtime.app),
                             base_url="http://intake")


async def test_the_public_routes_check_alike_and_share_one_allowance(
        kafka_bootstrap: str, database_url: str, tmp_path, unique: str) -> None:
    settings = settings_for(IntakeSettings, kafka_bootstrap, database_url, tmp_path)
    # Nothing answers at the peers' addresses: processing and reporting are away.
    settings = settings.model_copy(update={"public_lookups_per_minute": 5,
                                           "processing_url": "http://127.0.0.1:9",
                                           "reporting_url": "http://127.0.0.1:9"})
    runtime = await started(build(settings))
    try:
        async with client(runtime) as c:
            made = await c.post("/api/v1/dossiers", json={
                "agency_code": "000.01.01.H26", "procedure_code": "BHXH.NH.03",
                "channel": "counter", "return_channel": "postal",
                "applicant": {"kind": "individual", "full_name": "Đỗ Thị Lan",
                              "id_number": ID_NUMBER},
                "components": [{"code": "GKS", "form": "paper"}],
                "submission_id": f"citizen-{unique}"})
            assert made.status_code == 201, made.text
            code, ref = made.json()["dossier_code"], made.json()["applicant_ref"]
            public = f"/api/v1/public/dossiers/{code}"

            found = await c.get(public, params={"id_last4": ID_NUMBER[-4:]})
            assert found.status_code == 200, found.text
            view = found.json()
            assert (view["stage"], view["status_vi"]) == (
                "received", "Đã tiếp nhận, đang chuyển giải quyết")
            assert view["appointment_at"] == view["due_at"]
            assert view["procedure_name"] == "Giải quyết hưởng chế độ thai sản"
            assert view["result"]["return_channel_vi"] == "Gửi qua dịch vụ bưu chính công ích"
            assert view["progress_known"] is False and view["rating"] == {"allowed": False}
            assert [p["kind"] for p in view["path"]] == ["received"]
            assert "Đỗ Thị Lan" not in found.text and ID_NUMBER not in found.text

            # The rating route: the same 404 for wrong digits and for an unknown code.
            wrong_digits = await c.post(f"{public}/rating",
                                        json={"id_last4": "0000", "score": 5})
            unknown = await c.post(f"/api/v1/public/dossiers/{code[:-4]}9999/rating",
                                   json={"id_last4": ID_NUMBER[-4:], "score": 5})
            assert wrong_digits.status_code == unknown.status_code == 404
            assert wrong_digits.json()["problems"][0]["message_en"].startswith("no dossier")
            assert wrong_digits.json()["problems"][0]["code"] == \
                unknown.json()["problems"][0]["code"] == "not_found"
            # The right pair, with reporting away: 503, nothing said taken.
            away = await c.post(f"{public}/rating", json={"id_last4": ID_NUMBER[-4:],
                                                          "score": 4, "comment": "Tốt"})
            assert away.status_code == 503
            assert away.json()["problems"][0]["code"] == "rating_unavailable"
            bad = await c.post(f"{public}/rating", json={"id_last4": ID_NUMBER[-4:],
                                                         "score": 9})
            assert bad.status_code == 422  # refused before it spends the allowance
            # Four spent (a lookup, three ratings checked), a fifth lookup; the sixth waits.
            assert (await c.get(public, params={"id_last4": ID_NUMBER[-4:]})).status_code \
                == 200
            limited = await c.post(f"{public}/rating", json={"id_last4": ID_NUMBER[-4:],
                                                             "score": 5})
            assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
            assert (await c.get(public, params={"id_last4": ID_NUMBER[-4:]})).status_code \
                == 429

            # The counter's pseudonym of a number, from the body, as intake keyed the dossier.
            got = await c.post("/api/v1/applicants/ref", json={"kind": "individual",
                                                               "number": ID_NUMBER})
            assert got.status_code == 200 and got.json() == {"applicant_ref": ref}
            monitor = await c.post("/api/v1/applicants/ref", headers=bearer("national_monitor"),
                                   json={"kind": "individual", "number": ID_NUMBER})
            assert monitor.status_code == 403
            assert monitor.json()["missing_permission"] == "warehouse:read"
            assert (await c.post("/api/v1/applicants/ref", json={
                "kind": "individual", "number": "00/../1"})).status_code == 422
    finally:
        await runtime.stop()

"""The result document is signed where the keys live: processing renders the decision,
digitization (served over real HTTP) seals it with the key of the dossier's office in a real
PAdES signature that names the dossier and the deciding leader, and the result
published for other government systems names that document and its verification link,
which verifies. With the signing service away, nothing is issued (503) and the officer
tries again."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from contracts import topics
from services.common.runtime import Runtime
from services.processing.app import build
from services.processing.settings import ProcessingSettings
from tests.auth import AUTH
from tests.integration.support import read_topic, settings_for, started
from tests.integration.test_digitization_scan import digitization
from tests.integration.test_processing_lifecycle import (
    AGENCY,
    LEADER,
    A,
    C,
    _type,
    act,
    arrive,
    case_when,
    client_for,
)

pytestmark = pytest.mark.integration
BA_DINH = "Bảo hiểm xã hội cơ sở Ba Đình"  # AGENCY's name in the catalogue


async def approved(runtime: Runtime, bootstrap: str, client: httpx.AsyncClient,
                   code: str) -> None:
    """A dossier through both steps to the leader's approval."""
    await arrive(runtime, bootstrap, code)
    await case_when(client, code, lambda c: c["state"] == "in_step", "the opening")
    await act(client, code, "claim", A)
    await act(client, code, "complete_step", A, decision="approve")
    await act(client, code, "claim", C)
    await act(client, code, "complete_step", C, decision="approve")
    await act(client, code, "approve", LEADER)


async def test_the_result_is_signed_by_digitization_and_verifies(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    async with digitization(kafka_bootstrap, database_url, tmp_path / "d") as (_, signer_url):
        # Each service its own database: processing's in a file of its own.
        settings = settings_for(ProcessingSettings, kafka_bootstrap,
                                f"sqlite+aiosqlite:///{tmp_path / 'p.db'}",
                                tmp_path / "p").model_copy(update={
                                    "sign_url": f"{signer_url}/api/v1/sign"})
        runtime = await started(build(settings))
        code = f"{AGENCY}-260302-G{unique}"
        try:
            async with client_for(runtime) as client, httpx.AsyncClient(auth=AUTH) as outside:
                await approved(runtime, kafka_bootstrap, client, code)

                issued = await client.post(f"/api/v1/cases/{code}/actions", json={
                    "action": "issue_result", "officer": LEADER, "result_code": "QD-9"})
                assert issued.status_code == 200, issued.text
                case = (await client.get(f"/api/v1/cases/{code}")).json()
                ref = case["result"]["document_ref"]
                assert ref.startswith("doc-") and case["result"]["signed"] is True

                # Served by digitization, and it verifies: signed, intact, trusted.
                moved = await client.get(f"/api/v1/cases/{code}/result.pdf")
                assert moved.status_code == 307
                # Links carry digitization's public URL (DIGITIZATION_PUBLIC_URL, not set
                # here): follow their paths on the server this test runs.
                location = urlsplit(moved.headers["location"]).path
                assert location == f"/api/v1/documents/{ref}"
                pdf = await outside.get(signer_url + location)
                assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
                verify = urlsplit(case["result"]["verification_url"]).path
                verdict = (await outside.get(signer_url + verify)).json()
                assert verdict["valid"] is True and verdict["intact"] is True, verdict
                # Sealed by the dossier's office, naming the dossier and the leader who
                # decided: not one national key for every province.
                assert verdict["signer"] == verdict["signer_office"] == BA_DINH, verdict
                assert code in verdict["signing_reason"]
                assert LEADER in verdict["signing_reason"]

            public = await read_topic(kafka_bootstrap, topics.RESULTS.name,
                                      lambda b, _: b.get("subject") == code
                                      and b["type"] == _type("result.issued"))
            body = public[0][0]["data"]
            assert body["document_ref"] == ref
            assert body["verification_url"] == case["result"]["verification_url"]
        finally:
            await runtime.stop()


async def test_with_the_signing_service_away_nothing_is_issued(
        kafka_bootstrap: str, tmp_path: Path, unique: str) -> None:
    settings = settings_for(ProcessingSettings, kafka_bootstrap,
                            f"sqlite+aiosqlite:///{tmp_path / 'p.db'}", tmp_path).model_copy(
        update={"sign_url": "http://127.0.0.1:9/api/v1/sign", "sign_timeout_seconds": 2})
    runtime = await started(build(settings))
    code = f"{AGENCY}-260302-H{unique}"
    try:
        async with client_for(runtime) as client:
            await approved(runtime, kafka_bootstrap, client, code)
            refused = await act(client, code, "issue_result", LEADER, status=503,
                                result_code="QD-9")
            assert refused["problems"][0]["code"] == "signing_unavailable"
            case = (await client.get(f"/api/v1/cases/{code}")).json()
            assert case["state"] == "approved" and "issue_result" in case["allowed_actions"]
            # Until it is issued, the rendering says it is not signed.
            unsigned = await client.get(f"/api/v1/cases/{code}/result.pdf")
            assert unsigned.status_code == 200
            assert unsigned.headers["content-type"] == "application/pdf"
    finally:
        await runtime.stop()

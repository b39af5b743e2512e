"""A declaration form whose ID number differs from the declared one reaches the processing
officer as a flag, over the real broker, with the real Tesseract, and without a personal
value on a broad topic: intake's private record gives digitization the declared identity,
the counter scans the rendered 14-HSB form over HTTP, ComponentDigitized carries only the
mismatch kinds; the form's summary is kept until the dossier's last component (a birth
certificate, no form) is scanned, and DossierDigitized carries it to processing, which shows
`declaration_mismatch` on the case without reading ComponentDigitized at all.

Needs Debian's tesseract-ocr and tesseract-ocr-vie (skipped otherwise)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from contracts import topics
from contracts.common import (
    ApplicantRef,
    Channel,
    ComponentRef,
    IndividualApplicant,
    LegalTime,
    ReturnChannel,
)
from contracts.events import ApplicantRecorded, DossierReceived
from services.digitization import tables
from services.digitization.app import build as build_digitization
from services.digitization.ocr import missing
from services.digitization.ocr.synthetic import PEOPLE, render
from services.digitization.settings import DigitizationSettings
from services.processing.app import build as build_processing
from services.processing.settings import ProcessingSettings
from tests.auth import AUTH
from tests.integration.support import eventually, read_topic, settings_for, started
from tests.integration.test_digitization_scan import AGENCY, png, publish
from tests.integration.test_reporting_projection import fresh_database
from tests.integration.test_warehouse import serving

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(missing() is not None, reason=f"OCR unavailable: {missing()}"),
]
FORM = "14-HSB"
OTHER = "GKS"  # a paper with no OCR layout: scanned without extraction
PERSON = PEOPLE[0]  # what the paper form says
DECLARED_ID = "001090099999"  # what the applicant declared at the counter: another number


def form_png() -> bytes:
    out = io.BytesIO()
    render(FORM, PERSON).save(out, format="PNG", dpi=(300, 300))
    return out.getvalue()


async def test_an_id_number_the_form_contradicts_is_flagged_to_the_officer(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    code = f"{AGENCY}-260302-O{unique}"
    at = datetime.now(UTC) - timedelta(hours=1)
    received = DossierReceived(
        dossier_code=code, agency_code=AGENCY, procedure_code="BHXH.NH.03",
        catalog_version="2025.07", channel=Channel.counter, return_channel=ReturnChannel.counter,
        received_at=at, due_at=at + timedelta(days=7),
        legal_time=LegalTime(value=5, unit="working_days"),
        applicant=ApplicantRef(kind="individual", ref=f"p1_ocr_{unique}"),
        components=[ComponentRef(code=FORM, form="paper"), ComponentRef(code=OTHER,
                                                                       form="paper")])
    declared = ApplicantRecorded(
        dossier_code=code, applicant_ref=f"p1_ocr_{unique}", applicant=IndividualApplicant(
            full_name=PERSON.full_name, id_number=DECLARED_ID,
            social_insurance_code=PERSON.social_insurance_code))
    dig_settings = settings_for(DigitizationSettings, kafka_bootstrap, database_url,
                                tmp_path / "digitization")
    dig_settings.workers = 1  # a real process pool, as in production
    async with fresh_database(database_url, tmp_path) as processing_url:  # its own
        digitization = await started(build_digitization(dig_settings))
        processing = await started(build_processing(settings_for(
            ProcessingSettings, kafka_bootstrap, processing_url, tmp_path / "processing")))
        try:
            async with serving(digitization) as url, \
                    httpx.AsyncClient(auth=AUTH, base_url=url, timeout=120) as http, \
                    httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=processing.app),
                                      base_url="http://processing") as officer:
                await publish(digitization, kafka_bootstrap, (topics.INTAKE, received),
                              (topics.INTAKE_PRIVATE, declared))

                async def ready() -> bool:
                    async with digitization.sessions() as s:
                        held = await s.scalar(select(tables.declarations.c.id_number).where(
                            tables.declarations.c.dossier_code == code))
                    known = (await http.get(f"/api/v1/dossiers/{code}")).status_code == 200
                    return known and held == DECLARED_ID
                await eventually(ready, "the dossier and its declaration at digitization")

                scanned = await http.post(f"/api/v1/dossiers/{code}/components/{FORM}/scan",
                                          files={"pages": ("form.png", form_png())})
                assert scanned.status_code == 201, scanned.text
                assert scanned.json()["dossier_digitized"] is False
                scanned = await http.post(f"/api/v1/dossiers/{code}/components/{OTHER}/scan",
                                          files={"pages": ("gks.png", png())})
                assert scanned.status_code == 201, scanned.text
                assert scanned.json()["dossier_digitized"] is True

                found = await read_topic(
                    kafka_bootstrap, topics.DIGITIZATION.name,
                    lambda body, _r: body.get("subject") == code, count=3)
                kinds = [b["type"].rsplit(".", 2)[-2] for b, _ in found]
                assert kinds == ["digitized"] * 3 and [
                    b["data"].get("component_code") for b, _ in found] == [FORM, OTHER, None]
                body, record = found[0]
                assert found[1][0]["data"].get("extraction") is None
                # The dossier's event carries the form's summary, scanned before the last.
                assert found[2][0]["data"]["extractions"] == [body["data"]["extraction"]]
                extraction = body["data"]["extraction"]
                assert extraction["form_code"] == FORM and extraction["compared"] is True
                fields = {f["name"]: f for f in extraction["fields"]}
                assert fields["id_number"]["read"] is True
                assert {"field": "id_number", "kind": "differs"} in [
                    {k: m[k] for k in ("field", "kind")} for m in extraction["mismatches"]]
                # No personal value on the broad topic: neither number, nor the name.
                raw = record.value + b"".join(v for _k, v in record.headers or ())
                for value in (DECLARED_ID, PERSON.id_number, PERSON.social_insurance_code):
                    assert value.encode() not in raw
                assert PERSON.full_name.encode() not in raw
                assert json.dumps(PERSON.full_name).encode() not in raw

                async def flagged() -> bool:
                    r = await officer.get(f"/api/v1/cases/{code}")
                    return r.status_code == 200 and r.json()["declaration_mismatch"] is True
                await eventually(flagged, "the mismatch flagged on processing's case")
                case = (await officer.get(f"/api/v1/cases/{code}")).json()
                assert case["extraction"][FORM]["mismatches"] == extraction["mismatches"]
                assert case["state"] == "in_step"  # the receipt and digitization opened it
                # Processing passed over the components' events: none applied, none kept.
                async with processing.sessions() as s:
                    applied = await s.scalar(select(func.count()).select_from(
                        processing.tables.inbox).where(processing.tables.inbox.c.event_id.in_(
                            [b["id"] for b, _ in found[:2]])))
                assert applied == 0
        finally:
            await processing.stop()
            await digitization.stop()

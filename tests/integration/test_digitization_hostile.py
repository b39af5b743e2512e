"""Hostile uploads against the running service, over real HTTP: a PDF carrying every kind of
active content is stored, served inline and signed clean, and still verifies; a small PNG or
TIFF of a huge canvas, under the pixel limit, and a PDF drawing one, are refused with 413
and a clear problem before anything decodes them (the process's memory does not jump, and
page images never reach the worker pool that converts them); nothing is recorded."""

from __future__ import annotations

import gc
from pathlib import Path

import httpx
import psutil
import pytest

from contracts import topics
from contracts.common import ComponentRef
from services.common.settings import DEV_SERVICE_KEY
from tests.auth import bearer
from tests.hostile_files import active_pdf, huge_png, huge_tiff, leftovers, pdf_with_huge_image
from tests.integration.support import eventually
from tests.integration.test_digitization_scan import (
    digitization,
    files_count,
    outbox_count,
    publish,
)
from tests.integration.test_digitization_scope import CAU_GIAY, HANOI, received

pytestmark = pytest.mark.integration

SERVICE = {"X-API-Key": DEV_SERVICE_KEY}
MiB = 1024 * 1024


async def test_hostile_uploads_are_cleaned_or_refused(
        kafka_bootstrap: str, database_url: str, tmp_path: Path, unique: str) -> None:
    code = f"{CAU_GIAY}-260401-H{unique}"
    officer = bearer("counter_officer", "cb-hostile", HANOI)
    components = [ComponentRef(code=c, form="paper") for c in ("PDF", "PNG", "TIFF", "IN")]
    async with digitization(kafka_bootstrap, database_url, tmp_path,
                            scan_max_bytes=2 * MiB) as (runtime, url), \
            httpx.AsyncClient(base_url=url, timeout=60) as http:
        await publish(runtime, kafka_bootstrap, (topics.INTAKE, received(
            code, CAU_GIAY, f"p1_h_{unique}", *components)))

        async def known() -> bool:
            return (await http.get(f"/api/v1/dossiers/{code}", headers=SERVICE)
                    ).status_code == 200
        await eventually(known, "digitization to know the dossier")

        # --- huge canvases in small files: refused before a pixel is decoded ---
        workers = runtime.app.state.documents.workers
        before = (await outbox_count(runtime, code), await files_count(runtime))
        gc.collect()
        rss = psutil.Process().memory_info().rss
        for component, name, data in (("PNG", "bomb.png", huge_png(9900, 9900)),
                                      ("TIFF", "bomb.tiff", huge_tiff(9900, 9900))):
            assert len(data) < 400_000
            refused = await http.post(f"/api/v1/dossiers/{code}/components/{component}/scan",
                                      files={"pages": (name, data)}, headers=officer)
            assert refused.status_code == 413, refused.text
            problem = refused.json()["problems"][0]
            assert (problem["code"], problem["field"]) == ("image_too_large", "pages[0]")
            assert "once decoded" in problem["message_en"] and problem["message_vi"]
        # Decoding either would have taken some 100 MiB (the palette one 900 MiB) here or in
        # a worker: the images were judged by their headers in the request, alone.
        assert psutil.Process().memory_info().rss - rss < 48 * MiB
        assert workers._executor is None, "a page image reached the worker pool"
        # A PDF's pictures are measured from its dictionaries, in the worker, undecoded.
        drawn = await http.post(f"/api/v1/dossiers/{code}/components/PDF/scan",
                                files={"pages": ("big.pdf", pdf_with_huge_image(9900, 9900))},
                                headers=officer)
        assert drawn.status_code == 413, drawn.text
        assert drawn.json()["problems"][0]["code"] == "image_too_large"
        assert (await outbox_count(runtime, code), await files_count(runtime)) == before

        # --- active content: taken out of what is stored, served and signed ---
        done = await http.post(f"/api/v1/dossiers/{code}/components/PDF/scan",
                               files={"pages": ("hostile.pdf", active_pdf())}, headers=officer)
        assert done.status_code == 201, done.text
        served = await http.get(f"/api/v1/documents/{done.json()['document_id']}",
                                headers=officer)
        assert served.status_code == 200
        assert served.headers["content-disposition"].startswith("inline")
        assert leftovers(served.content) == []
        verdict = (await http.post("/api/v1/documents/verify", content=served.content)).json()
        assert verdict["valid"] and verdict["trusted"], verdict
        # The same for a PDF another service has signed.
        signed = await http.post("/api/v1/sign", content=active_pdf(), params={
            "dossier_code": code}, headers={**SERVICE, "content-type": "application/pdf"})
        assert signed.status_code == 201, signed.text
        stored = await http.get(f"/api/v1/documents/{signed.json()['document_id']}",
                                headers=officer)
        assert leftovers(stored.content) == []

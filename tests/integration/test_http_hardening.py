"""Intake's HTTP edge, attacked: oversized bodies (declared and streamed) and request heads,
refusals that cannot stand, receipt times no catalogue covers, two refusals racing with one
submission_id, Starlette's and uvicorn's own errors, all answered in the one documented
shape; forwarded addresses believed only from a trusted proxy, over a real uvicorn server;
failed credentials throttled per client address."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from deploy.local.broker import free_port
from services.common.http.edge import MAX_HEADER_BYTES, Problems, server_config
from services.common.http.ratelimit import RateLimit
from services.common.runtime import Runtime
from services.intake.app import build
from services.intake.settings import IntakeSettings
from services.product.roles import Role
from tests.auth import AUTH, bearer
from tests.integration.support import listening, settings_for, started

pytestmark = pytest.mark.integration
AGENCY = "000.12.01.H62"  # no other test uses this agency (they share the broker)
LIMIT = 64 * 1024
ID_NUMBER = "001060009876"


def pension(submission_id: str, **more: Any) -> dict[str, Any]:
    return {"agency_code": AGENCY, "procedure_code": "BHXH.DH.01", "channel": "counter",
            "applicant": {"kind": "individual", "full_name": "Đỗ Văn Hùng",
                          "id_number": ID_NUMBER},
            "components": [{"code": "SO-BHXH", "form": "paper"},
                           {"code": "QD-NV", "form": "paper"}],
            "submission_id": submission_id, **more}


def refusal(submission_id: str, **more: Any) -> dict[str, Any]:
    return {**pension(submission_id), "reasons": [{
        "code": "not_eligible", "message_vi": "Chưa đủ tuổi nghỉ hưu",
        "message_en": "below retirement age"}], **more}


def problems_of(response: httpx.Response, status: int) -> list[str]:
    """The answer has the status and the documented Problems shape; its problem codes."""
    assert response.status_code == status, response.text
    body = Problems.model_validate(response.json())
    assert body.problems, response.text
    return [p.code for p in body.problems]


@pytest.fixture(scope="module")
async def intake(session_broker: str, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[Runtime]:
    tmp_path = tmp_path_factory.mktemp("hardening")
    settings = settings_for(IntakeSettings, session_broker,
                            f"sqlite+aiosqlite:///{tmp_path / 'i.db'}", tmp_path)
    settings.http_max_body_bytes = LIMIT
    runtime = await started(build(settings))
    try:
        yield runtime
    finally:
        await runtime.stop()


@pytest.fixture
async def client(intake: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    # raise_app_exceptions (the default): an unhandled error fails the test, not a 500.
    async with httpx.AsyncClient(auth=AUTH, transport=httpx.ASGITransport(app=intake.app),
                                 base_url="http://intake") as c:
        yield c


# --- size -------------------------------------------------------------------------------


async def test_a_body_declared_too_large_is_refused_unread(client: httpx.AsyncClient,
                                                           unique: str) -> None:
    body = pension(unique)
    body["applicant"]["address"] = "x" * (20 * 1024 * 1024)  # the hostile run's 20 MB
    r = await client.post("/api/v1/dossiers", json=body)
    assert problems_of(r, 413) == ["body_too_large"]
    r = await client.post("/api/v1/refusals", content=b"{" + b" " * LIMIT + b"}",
                          headers={"content-type": "application/json"})
    assert problems_of(r, 413) == ["body_too_large"]


async def test_a_streamed_body_is_cut_off_at_the_limit(client: httpx.AsyncClient) -> None:
    chunk, sent = 8 * 1024, 0

    async def stream() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(1000):  # 8 MB if it were all read
            sent += 1
            yield b" " * chunk

    # Its own token: the client's auth would read the whole stream first, to retry it.
    r = await client.post("/api/v1/dossiers", content=stream(), auth=None,
                          headers={"content-type": "application/json",
                                   **bearer(Role.counter_officer)})
    assert "content-length" not in r.request.headers  # chunked: no length to trust
    assert problems_of(r, 413) == ["body_too_large"]
    assert sent <= LIMIT // chunk + 2, f"{sent} chunks read: the body was not cut off"


async def test_a_body_under_the_limit_with_an_overlong_text_is_a_422(
        client: httpx.AsyncClient, unique: str) -> None:
    body = pension(unique)
    body["applicant"]["address"] = "x" * 501
    body["applicant"]["phone"] = "0" * 21
    r = await client.post("/api/v1/dossiers", json=body)
    assert problems_of(r, 422) == ["string_too_long", "string_too_long"]


# --- Starlette's own answers, in the problems shape ------------------------------------


async def test_framework_errors_have_the_problems_shape(client: httpx.AsyncClient) -> None:
    assert problems_of(await client.get("/api/v1/nothing-here"), 404) == ["not_found"]
    wrong = await client.put("/api/v1/refusals", json={})
    assert problems_of(wrong, 405) == ["method_not_allowed"]
    assert "POST" in wrong.headers["allow"]
    deep = b"[" * 10_000 + b"]" * 10_000
    r = await client.post("/api/v1/refusals", content=deep,
                          headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), r.text
    problems_of(r, r.status_code)
    r = await client.post("/api/v1/refusals", content=b"{not json",
                          headers={"content-type": "application/json"})
    problems_of(r, 422)


async def test_openapi_documents_problems_for_every_error(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "404", "409", "413", "422"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problems"}, (path, method)


# --- refusals validated like submissions ------------------------------------------------


@pytest.mark.parametrize(("change", "code"), [
    ({"agency_code": "000.00.00.X00"}, "unknown_agency"),
    ({"procedure_code": "BHXH.NOPE.99"}, "unknown_procedure"),
    ({"received_at": "2099-01-01T08:00:00+07:00"}, "received_at_in_future"),
    ({"received_at": "2001-01-01T08:00:00+07:00"}, "no_catalogue"),  # before the first one
    ({"received_at": "1999-12-31T08:00:00+07:00"}, "value_error"),  # not a sane year
    ({"received_at": 1767225600}, "value_error"),  # a number is not a timestamp
    ({"agency_code": ""}, "string_too_short"),
    ({"components": [{"code": "SO-BHXH", "form": "paper"},
                     {"code": "SO-BHXH", "form": "electronic"}]}, "duplicate_component"),
])
async def test_a_refusal_that_cannot_stand_is_a_422(client: httpx.AsyncClient, unique: str,
                                                    change: dict[str, Any], code: str) -> None:
    r = await client.post("/api/v1/refusals", json=refusal(f"bad-{unique}", **change))
    assert code in problems_of(r, 422)


@pytest.mark.parametrize(("change", "code"), [
    ({"received_at": "2001-01-01T08:00:00+07:00"}, "no_catalogue"),
    ({"received_at": "2019-12-09T16:59:00Z"}, "no_catalogue"),
    ({"received_at": "0001-01-01T00:00:00+07:00"}, "value_error"),
    ({"components": [{"code": "SO-BHXH", "form": "paper"},
                     {"code": "SO-BHXH", "form": "electronic"}]}, "duplicate_component"),
])
async def test_a_submission_no_catalogue_covers_is_a_422(client: httpx.AsyncClient,
                                                        unique: str, change: dict[str, Any],
                                                        code: str) -> None:
    r = await client.post("/api/v1/dossiers", json=pension(f"old-{unique}", **change))
    assert code in problems_of(r, 422)


async def test_a_refusal_for_a_procedure_the_agency_does_not_handle_stands(
        client: httpx.AsyncClient, unique: str) -> None:
    # The reasons a refusal exists for are not blockers: missing components here.
    r = await client.post("/api/v1/refusals", json=refusal(
        f"ok-{unique}", components=[{"code": "SO-BHXH", "form": "paper"}]))
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "refused"


# --- two refusals racing with one submission_id ----------------------------------------


async def test_concurrent_refusals_with_one_submission_id_get_one_dossier(
        client: httpx.AsyncClient, unique: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)  # the services' level; DEBUG drivers echo SQL
    answers = await asyncio.gather(*(client.post("/api/v1/refusals",
                                                 json=refusal(f"race-{unique}"))
                                     for _ in range(6)))
    assert sorted(a.status_code for a in answers)[0] in (200, 201)
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    assert len({a.json()["dossier_code"] for a in answers}) == 1
    assert [a.status_code for a in answers].count(201) == 1
    assert ID_NUMBER not in caplog.text


async def test_a_refusal_losing_the_race_answers_with_the_winners_dossier(
        client: httpx.AsyncClient, intake: Runtime, unique: str,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The loser passed the replay check before the winner committed: its INSERT fails on
    the unique submission_id, and the answer is the winner's dossier, not a 500 (and the
    IntegrityError, whose text holds the applicant's data, is not logged)."""
    caplog.set_level(logging.INFO)  # the services' level; DEBUG drivers echo SQL
    first = await client.post("/api/v1/refusals", json=refusal(f"lost-{unique}"))
    assert first.status_code == 201, first.text
    receiver = intake.app.state.intake
    real = receiver.existing
    missed: list[str] = []

    async def late(session: Any, *, code: str | None = None,
                   submission_id: str | None = None) -> dict[str, Any] | None:
        if submission_id and not missed:  # the replay check, before the winner committed
            missed.append(submission_id)
            return None
        return await real(session, code=code, submission_id=submission_id)

    monkeypatch.setattr(receiver, "existing", late)
    second = await client.post("/api/v1/refusals", json=refusal(f"lost-{unique}"))
    assert missed, "the race was not staged"
    assert second.status_code == 200, second.text
    assert second.json()["dossier_code"] == first.json()["dossier_code"]
    assert ID_NUMBER not in caplog.text


async def test_a_supplement_repeating_a_component_is_a_422_and_changes_nothing(
        client: httpx.AsyncClient, unique: str) -> None:
    made = await client.post("/api/v1/dossiers", json=pension(f"dup-supp-{unique}"))
    assert made.status_code == 201, made.text
    code = made.json()["dossier_code"]
    asked = await client.post(f"/api/v1/dossiers/{code}/supplement-request", json={
        "items": [{"component_code": "QD-NV", "problem_vi": "Thiếu quyết định",
                   "problem_en": "decision missing"}], "requested_by": "officer-1"})
    assert asked.status_code == 201, asked.text
    twice = [{"code": "QD-NV", "form": "paper"}, {"code": "QD-NV", "form": "paper"}]
    answer = await client.post(f"/api/v1/dossiers/{code}/supplement",
                               json={"components": twice})
    assert problems_of(answer, 422) == ["duplicate_component"]
    after = (await client.get(f"/api/v1/dossiers/{code}")).json()
    assert after["status"] == "awaiting_supplement"


async def test_a_nul_character_in_the_query_is_refused_not_a_500(
        client: httpx.AsyncClient) -> None:
    # PostgreSQL cannot store or compare text holding NUL: refused before any query runs.
    answer = await client.get("/api/v1/dossiers", params={"agency": "000.12\x0001.H62"})
    assert problems_of(answer, 400) == ["nul_character"]


async def test_a_nul_character_in_the_body_is_refused_even_split_across_chunks(
        client: httpx.AsyncClient, unique: str) -> None:
    body = pension(f"nul-{unique}")
    body["applicant"]["full_name"] = "Đỗ Văn\u0000Hùng"
    whole = await client.post("/api/v1/dossiers", json=body)
    assert problems_of(whole, 400) == ["nul_character"]
    raw = json.dumps(body).encode()
    cut = raw.index(b"\\u0000") + 3  # the escape straddles two chunks

    async def stream() -> AsyncIterator[bytes]:
        yield raw[:cut]
        yield raw[cut:]

    split = await client.post("/api/v1/dossiers", content=stream(),
                              headers={"content-type": "application/json"})
    assert problems_of(split, 400) == ["nul_character"]


# --- over a real server: request heads, forwarded addresses ------------------------------


@contextlib.asynccontextmanager
async def served(runtime: Runtime, trusted: str = "") -> AsyncIterator[str]:
    """The runtime's app behind uvicorn as `serve()` configures it, on a free port."""
    server = uvicorn.Server(server_config(runtime.app, host="127.0.0.1", port=free_port(),
                                          trusted=trusted, log_level="warning",
                                          lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        await listening(server, task)
        yield f"http://127.0.0.1:{server.config.port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_a_200_kb_header_is_a_431_not_a_dropped_connection(intake: Runtime) -> None:
    async with served(intake) as url, httpx.AsyncClient(base_url=url, timeout=10) as c:
        r = await c.get("/api/v1/dossiers", headers={"X-Big": "a" * 200_000,
                                                     **bearer(Role.counter_officer)})
        assert problems_of(r, 431) == ["headers_too_large"]
        assert str(MAX_HEADER_BYTES) in r.json()["problems"][0]["message_en"]
        # Just over the limit with the path (a client refuses a longer query itself).
        r = await c.get("/api/v1/dossiers", params={"q": "a" * (MAX_HEADER_BYTES - 10)},
                        headers=bearer(Role.counter_officer))
        assert problems_of(r, 414) == ["uri_too_long"]
        # The connection still serves: the head was read whole and answered.
        r = await c.get("/api/v1/catalog/agencies", headers=bearer(Role.counter_officer))
        assert r.status_code == 200
        assert r.headers["x-content-type-options"] == "nosniff"
    # What h11 itself cannot parse is answered as a problem too, not as plain text.
    async with served(intake) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", int(url.rsplit(":")[-1]))
        writer.write(b"NOT HTTP AT ALL\r\n\r\n")
        raw = await asyncio.wait_for(reader.read(), 10)
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and b"application/json" in head
    assert [p["code"] for p in json.loads(body)["problems"]] == ["bad_request"]


async def lookups(url: str, n: int, forwarded: str | None) -> list[int]:
    """`n` citizens' lookups, each with another X-Forwarded-For (or the one given)."""
    async with httpx.AsyncClient(base_url=url, timeout=10) as c:
        return [(await c.get("/api/v1/public/dossiers/000.12.01.H62-260101-0001",
                             params={"id_last4": "0000"}, headers={
                                 "X-Forwarded-For": forwarded or f"203.0.113.{i}"})
                 ).status_code for i in range(n)]


async def audit_addresses(intake: Runtime, code: str) -> set[str | None]:
    t = intake.tables.audit
    async with intake.sessions() as s:
        return set((await s.execute(select(t.c.address).where(t.c.dossier_code == code))
                    ).scalars())


async def test_a_forwarded_header_from_any_peer_lifts_no_limit_and_forges_no_address(
        intake: Runtime, unique: str) -> None:
    kept = intake.app.state.public_lookups
    intake.app.state.public_lookups = RateLimit(per_minute=3)
    try:
        async with served(intake) as url:
            # Rotating the header: still one client (the peer), limited after 3.
            assert await lookups(url, 5, None) == [404, 404, 404, 429, 429]
            async with httpx.AsyncClient(base_url=url, timeout=10) as c:
                r = await c.post("/api/v1/dossiers", json=pension(f"xff-{unique}"), headers={
                    "X-Forwarded-For": "203.0.113.99", **bearer(Role.counter_officer)})
                assert r.status_code == 201, r.text
        assert await audit_addresses(intake, r.json()["dossier_code"]) == {"127.0.0.1"}
    finally:
        intake.app.state.public_lookups = kept


async def test_behind_a_trusted_proxy_the_forwarded_client_is_the_client(
        intake: Runtime, unique: str) -> None:
    kept = intake.app.state.public_lookups
    intake.app.state.public_lookups = RateLimit(per_minute=3)
    try:
        async with served(intake, trusted="127.0.0.1") as url:
            assert await lookups(url, 5, None) == [404] * 5  # five clients, one lookup each
            assert await lookups(url, 5, "198.51.100.4") == [404, 404, 404, 429, 429]
            async with httpx.AsyncClient(base_url=url, timeout=10) as c:
                r = await c.post("/api/v1/dossiers", json=pension(f"proxy-{unique}"),
                                 headers={"X-Forwarded-For": "198.51.100.5",
                                          **bearer(Role.counter_officer)})
                assert r.status_code == 201, r.text
        assert await audit_addresses(intake, r.json()["dossier_code"]) == {"198.51.100.5"}
    finally:
        intake.app.state.public_lookups = kept


async def test_failed_credentials_are_throttled_per_client_address(intake: Runtime) -> None:
    per_minute = int(intake.settings.auth_failures_per_minute)

    def client_at(address: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(
            app=intake.app, client=(address, 40000)), base_url="http://intake")

    async with client_at("198.51.100.20") as guesser, client_at("198.51.100.21") as other:
        answers = [(await guesser.get("/api/v1/dossiers", headers={
            "X-API-Key": f"guess-{i}"})).status_code for i in range(per_minute + 2)]
        assert answers == [401] * per_minute + [429, 429]
        r = await guesser.get("/api/v1/dossiers", headers={"Authorization": "Bearer forged"})
        assert problems_of(r, 429) == ["too_many_failures"]
        assert int(r.headers["retry-after"]) >= 1
        # Even a good credential waits: the address is not believed until the failures drain.
        r = await guesser.get("/api/v1/dossiers", headers=bearer(Role.counter_officer))
        assert r.status_code == 429
        # Another address is not held back, nor is an anonymous call told anything new.
        r = await other.get("/api/v1/dossiers", headers=bearer(Role.counter_officer))
        assert r.status_code == 200
        assert problems_of(await guesser.get("/api/v1/dossiers"), 401) == ["unauthenticated"]

"""The shared HTTP edge on a small app, in process: the query token is taken out of every
URL and read only by a route that declares it; no span records a token; every answer says
nosniff and every HTML page carries its content security policy."""

from __future__ import annotations

from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse

from services.common.http import edge as http
from services.common.http.auth import Authenticator, Caller, issue_token, parse_api_keys, require
from services.common.observability.tracing import Tracing
from services.common.settings import DEV_JWT_SECRET
from services.product.roles import ROLE_PERMISSIONS
from services.product.roles import Permission as P

router = APIRouter()


@router.get("/api/v1/figures")
async def figures(request: Request, caller: Annotated[Caller, require(P.report_read)]
                  ) -> dict[str, Any]:
    return {"url": str(request.url), "user": caller.user}


@router.get("/api/v1/stream")
async def stream(request: Request,
                 caller: Annotated[Caller, require(P.report_read, query_token=True)]
                 ) -> dict[str, Any]:
    return {"url": str(request.url), "user": caller.user}


@router.get("/page", response_class=HTMLResponse)
async def page() -> str:
    return "<!doctype html><title>x</title>"


@pytest.fixture
def edge() -> tuple[FastAPI, Tracing]:
    app = FastAPI()
    tracing = Tracing.create("edge-test", "memory").instrumenting(app)
    app.state.auth = Authenticator([DEV_JWT_SECRET], parse_api_keys(""),
                                   grants=ROLE_PERMISSIONS)
    app.include_router(router)
    http.install(app, max_body_bytes=1024)
    return app, tracing


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://edge")


async def test_the_query_token_is_read_only_where_declared_and_never_traced(
        edge: tuple[FastAPI, Tracing]) -> None:
    app, tracing = edge
    token = issue_token("national_monitor", user="giam-sat")
    sse = {"Accept": "text/event-stream"}
    async with client(app) as c:
        # Any route but the declared one: not a credential, whatever Accept says.
        r = await c.get("/api/v1/figures", params={"access_token": token, "x": "1"},
                        headers=sse)
        assert r.status_code == 401
        r = await c.get("/api/v1/stream", params={"access_token": token, "x": "1"},
                        headers=sse)
        assert r.status_code == 200 and r.json()["user"] == "giam-sat"
        # The route itself sees the URL without it; other parameters stay.
        assert r.json()["url"] == "http://edge/api/v1/stream?x=1"
        # Other token-like values reach the route but no span.
        r = await c.get("/api/v1/stream", params={"token": token, "api_key": "k", "n": "2"},
                        headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200
    spans = tracing.memory.get_finished_spans() if tracing.memory else ()
    recorded = " ".join(str(dict(s.attributes or {})) for s in spans)
    assert "/api/v1/stream" in recorded and "n=2" in recorded
    assert token not in recorded and "api_key=k" not in recorded


async def test_every_answer_says_nosniff_and_a_page_its_policy(
        edge: tuple[FastAPI, Tracing]) -> None:
    app, _ = edge
    async with client(app) as c:
        answer = await c.get("/api/v1/figures")  # a 401, JSON
        page = await c.get("/page")
        docs = await c.get("/docs")
    assert answer.status_code == 401 and answer.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in answer.headers
    for html in (page, docs):
        assert html.status_code == 200
        assert html.headers["x-content-type-options"] == "nosniff"
        assert html.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in html.headers["content-security-policy"]
    assert page.headers["content-security-policy"] == http.PAGE_POLICY
    assert docs.headers["content-security-policy"] == http.DOCS_POLICY


async def test_an_oversized_head_is_a_problem(edge: tuple[FastAPI, Tracing]) -> None:
    app, _ = edge
    async with client(app) as c:
        r = await c.get("/api/v1/figures", headers={"X-Big": "a" * (http.MAX_HEADER_BYTES + 1)})
    assert r.status_code == 431
    assert [p["code"] for p in r.json()["problems"]] == ["headers_too_large"]


@pytest.mark.parametrize(("url", "redacted"), [
    ("http://h/x?access_token=abc&a=1", "http://h/x?access_token=REDACTED&a=1"),
    ("http://h/x?a=1&id_token=abc&API-KEY=k#f", "http://h/x?a=1&id_token=REDACTED&API-KEY=REDACTED#f"),
    ("x=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "x=REDACTED"),
    ("http://h/token/path?year=2026", "http://h/token/path?year=2026"),
])
def test_token_like_values_are_redacted_from_urls(url: str, redacted: str) -> None:
    assert http.redact_url(url) == redacted

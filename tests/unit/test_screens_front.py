"""The screens' front (services/web) and the services' CORS, in memory: each page carries a
content security policy of its own naming the services it calls (no inline script, no
eval); the development sign-in issues the development issuer's tokens for people's roles
and known agencies, and is 404 in production, which refuses to start without the OIDC
issuer's settings; a service answers CORS only to the origins named (never `*`), and its
problems (a 413 too) still reach the page."""

from __future__ import annotations

import re

import httpx
import jwt
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from contracts.topics import SERVICES
from services.common.http import edge as http
from services.common.settings import AUDIENCE, DEV_JWT_SECRET, ISSUER, ServiceSettings
from services.web.app import build
from services.web.settings import WebSettings

FRONT = "http://127.0.0.1:8000"
OIDC = {"oidc_authorization_endpoint": "https://sso.example.gov.vn/auth",
        "oidc_token_endpoint": "https://sso.example.gov.vn/token",
        "oidc_client_id": "mot-cua-workbench"}


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=FRONT)


async def test_each_page_names_what_it_may_call_and_runs_no_inline_script() -> None:
    settings = WebSettings(intake_url="http://127.0.0.1:8001",
                           reporting_url="https://bao-cao.example.gov.vn/")
    async with client(build(settings)) as c:
        workbench = await c.get("/workbench/")
        citizen = await c.get("/tra-cuu/")
        script = await c.get("/static/workbench/main.js")
        assert (await c.get("/workbench", follow_redirects=False)).headers["location"] \
            == "/workbench/"
    assert workbench.status_code == citizen.status_code == 200
    policy = workbench.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe" not in policy
    assert "connect-src 'self' http://127.0.0.1:8001" in policy
    assert "https://bao-cao.example.gov.vn" in policy and "frame-ancestors 'none'" in policy
    # The citizens' page calls intake only.
    assert citizen.headers["content-security-policy"].count("http") == 1
    assert workbench.headers["x-frame-options"] == "DENY"
    for page in (workbench.text, citizen.text):  # scripts from files, no inline handler
        assert not re.search(r"<script(?![^>]*\bsrc=)", page)
        assert not re.search(r"\son[a-z]+=", page)
    assert script.headers["content-type"].startswith("text/javascript")


async def test_the_development_sign_in_issues_the_development_issuers_tokens() -> None:
    secret = "s3cret-of-this-machine-made-by-make-up"
    async with client(build(WebSettings(auth_jwt_secret=secret))) as c:
        config = (await c.get("/config.json")).json()
        answer = await c.post("/dev/token", json={
            "role": "counter_officer", "agency": "000.01.01.H26", "name": "Lê Thị Mai"})
        national = await c.post("/dev/token", json={
            "role": "national_monitor", "agency": "*", "name": "Giám sát"})
        unknown = await c.post("/dev/token", json={
            "role": "counter_officer", "agency": "999.99.99.X99", "name": "Ai đó"})
        system = await c.post("/dev/token", json={
            "role": "internal_service", "agency": "*", "name": "x"})
    assert config["auth"] == {"mode": "development"}
    assert config["development"]["people"]["counter_officer"]["agency"] == "000.01.01.H26"
    assert set(config["services"]) == set(SERVICES)
    assert "dossier:receive" in config["roles"]["counter_officer"]["permissions"]
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    claims = jwt.decode(answer.json()["access_token"], secret,
                        algorithms=["HS256"], issuer=ISSUER, audience=AUDIENCE)
    assert (claims["role"], claims["agency"], claims["name"]) == (
        "counter_officer", "000.01.01.H26", "Lê Thị Mai")
    assert national.status_code == 200
    assert unknown.status_code == 422
    assert unknown.json()["problems"][0]["code"] == "unknown_agency"
    assert system.status_code == 422  # systems use API keys, not the sign-in


async def test_production_signs_in_through_the_issuer_and_has_no_development_sign_in() -> None:
    with pytest.raises(ValidationError, match="OIDC"):
        WebSettings(env="production", auth_jwt_secret="a-real-secret-of-production")
    with pytest.raises(ValidationError, match="development token secret"):
        WebSettings(env="production", auth_jwt_secret=DEV_JWT_SECRET, **OIDC)
    settings = WebSettings(env="production", auth_jwt_secret="a-real-secret-of-production",
                           **OIDC)
    async with client(build(settings)) as c:
        config = (await c.get("/config.json")).json()
        refused = await c.post("/dev/token", json={
            "role": "office_leader", "agency": "000.00.01.H26", "name": "Phạm Văn Cường"})
        page = await c.get("/workbench/")
    assert config["auth"]["mode"] == "oidc" and "development" not in config
    assert config["auth"]["client_id"] == "mot-cua-workbench"
    assert refused.status_code == 404 and "access_token" not in refused.text
    # The page may exchange its code at the issuer's token endpoint.
    assert "https://sso.example.gov.vn" in page.headers["content-security-policy"]


def service_app(origins: str, max_body: int = 1024) -> FastAPI:
    app = FastAPI()
    http.install(app, max_body_bytes=max_body, cors_origins=origins)

    @app.post("/api/v1/things")
    async def things(body: dict) -> dict:  # type: ignore[type-arg]
        return body

    return app


async def test_a_service_answers_cors_to_the_named_origins_only() -> None:
    app = service_app(f"{FRONT},http://localhost:8000")
    preflight = {"Origin": FRONT, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    async with client(app) as c:
        allowed = await c.options("/api/v1/things", headers=preflight)
        stranger = await c.options("/api/v1/things",
                                   headers={**preflight, "Origin": "https://evil.example"})
        called = await c.post("/api/v1/things", json={"a": 1}, headers={"Origin": FRONT})
        too_large = await c.post("/api/v1/things", content=b"x" * 2000,
                                 headers={"Origin": FRONT, "Content-Type": "application/json"})
        other = await c.post("/api/v1/things", json={"a": 1},
                             headers={"Origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == FRONT
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in allowed.headers
    assert stranger.status_code == 400
    assert "access-control-allow-origin" not in stranger.headers
    assert called.headers["access-control-allow-origin"] == FRONT
    # A refusal reaches the page with its problems, and Retry-After would be readable.
    assert too_large.status_code == 413 and too_large.headers["access-control-allow-origin"] \
        == FRONT
    assert "retry-after" in too_large.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in other.headers
    assert all(h.headers.get("access-control-allow-origin") != "*"
               for h in (allowed, stranger, called, too_large, other))


async def test_without_origins_a_service_sends_no_cors_header() -> None:
    async with client(service_app("")) as c:
        answer = await c.post("/api/v1/things", json={}, headers={"Origin": FRONT})
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("spec", ["*", "http://127.0.0.1:8000,*", "null"])
def test_settings_refuse_any_origin(spec: str) -> None:
    with pytest.raises(ValidationError, match="ONESTOP_CORS_ORIGINS"):
        ServiceSettings(cors_origins=spec)


def test_the_front_imports_no_service_it_calls() -> None:
    from tests.contract.test_layers import offenders

    assert offenders("services.web", tuple(f"services.{s}" for s in SERVICES)) == []

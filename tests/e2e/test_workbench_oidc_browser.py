"""Production sign-in in a real browser: the workbench (front in production mode) sends the
officer to an OIDC issuer with an authorization code request and a PKCE challenge (S256),
exchanges the code with its verifier at the token endpoint, keeps the access token in the
tab (never in the address bar: the code leaves it at once), and intake, verifying the
issuer's RS256 tokens against its JWKS, answers the page. The issuer here is a local stand-in
that, like a real one, refuses a verifier that does not match the challenge and a code used
twice; a return whose state is not the one sent is refused by the page."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, RedirectResponse
from playwright.async_api import async_playwright

from deploy.local.broker import free_port
from services.intake.app import build as build_intake
from services.intake.settings import IntakeSettings
from services.web.app import build as build_front
from services.web.settings import WebSettings
from tests.integration.support import eventually, settings_for, started

pytestmark = pytest.mark.integration
CHROMIUM = Path("/usr/bin/chromium")
CLIENT_ID = "mot-cua-workbench"
PERSON = {"sub": "cb-0042", "name": "Hoàng Thị Thu", "role": "counter_officer",
          "agency": "000.01.01.H26"}


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Issuer:
    """An OIDC issuer's three endpoints, as small as a test needs, strict where ours must be
    right: the redirect, the client, the PKCE verifier, a code used once."""

    def __init__(self, front: str) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.front = front
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.codes: dict[str, dict[str, str]] = {}
        self.exchanges: list[str] = []
        self.app = FastAPI()
        self.app.add_middleware(CORSMiddleware, allow_origins=[front], allow_methods=["POST"],
                                allow_headers=["Content-Type"])
        self.app.get("/authorize")(self.authorize)
        self.app.post("/token")(self.token)
        self.app.get("/jwks")(self.jwks)

    async def authorize(self, request: Request) -> RedirectResponse:
        q = request.query_params
        assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID
        assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
        assert q["redirect_uri"] == f"{self.front}/workbench/"
        code = uuid.uuid4().hex
        self.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
        back = urlencode({"code": code, "state": q["state"]})
        return RedirectResponse(f"{q['redirect_uri']}?{back}", status_code=302)

    async def token(self, request: Request) -> JSONResponse:
        form = await request.form()
        asked = self.codes.pop(str(form.get("code")), None)  # a code is used once
        verifier = str(form.get("code_verifier", ""))
        if asked is None or form.get("grant_type") != "authorization_code" \
                or form.get("client_id") != CLIENT_ID \
                or form.get("redirect_uri") != asked["redirect_uri"] \
                or b64url(hashlib.sha256(verifier.encode()).digest()) != asked["challenge"]:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        self.exchanges.append(verifier)
        now = int(time.time())
        token = jwt.encode({**PERSON, "iss": self.url, "aud": "onestop", "iat": now,
                            "exp": now + 600}, self.key, algorithm="RS256",
                           headers={"kid": "k1"})
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": 600})

    async def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}


@contextlib.asynccontextmanager
async def serving(app: Any, url: str) -> AsyncIterator[None]:
    """`app` on `url`'s port, in a thread of its own: intake fetches the issuer's keys
    without yielding its loop, so the two may not share one."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=int(url.rsplit(":", 1)[1]),
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        await eventually(lambda: server.started, "uvicorn to start", seconds=10,
                         interval=0.05)
        yield
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)


@contextlib.asynccontextmanager
async def over(app: Any, url: str) -> AsyncIterator[None]:
    """`app` on `url`'s port on this loop (a runtime started here lives here)."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=int(url.rsplit(":", 1)[1]),
                                           log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        await eventually(lambda: server.started, "uvicorn to start", seconds=10,
                         interval=0.05)
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, 10)


async def test_the_workbench_signs_in_through_the_issuer_with_pkce(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    assert await asyncio.to_thread(CHROMIUM.exists), "apt-get install -y chromium"
    front = f"http://127.0.0.1:{free_port()}"
    intake_url = f"http://127.0.0.1:{free_port()}"
    issuer = Issuer(front)
    intake_settings = settings_for(IntakeSettings, kafka_bootstrap,
                                   f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}", tmp_path)
    intake = await started(build_intake(intake_settings.model_copy(update={
        "auth_jwks_url": f"{issuer.url}/jwks", "auth_issuer": issuer.url,
        "cors_origins": front, "log_level": "WARNING"})))
    page_app = build_front(WebSettings(
        env="production", auth_jwt_secret="production-secret-never-used-by-the-front",
        intake_url=intake_url, oidc_authorization_endpoint=f"{issuer.url}/authorize",
        oidc_token_endpoint=f"{issuer.url}/token", oidc_client_id=CLIENT_ID))
    try:
        async with serving(issuer.app, issuer.url), over(intake.app, intake_url), \
                serving(page_app, front), async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM),
                                               args=["--no-sandbox"])
            try:
                await sign_in_and_out(browser, front, issuer)
            finally:
                await browser.close()
            # Production has no development sign-in.
            async with httpx.AsyncClient() as c:
                refused = await c.post(f"{front}/dev/token", json={
                    "role": "office_leader", "agency": "000.00.01.H26", "name": "X"})
            assert refused.status_code == 404
    finally:
        await intake.stop()


async def sign_in_and_out(browser: Any, front: str, issuer: Issuer) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    seen: list[str] = []  # every URL the tab asked for
    page.on("request", lambda request: seen.append(request.url))

    await page.goto(f"{front}/workbench/")
    await page.locator("#oidc-signin:not([hidden])").wait_for(timeout=30_000)
    assert await page.locator("#dev-signin").is_hidden()
    await page.click("#oidc-start")
    await page.locator("body[data-ready=yes]").wait_for(timeout=30_000)
    # Back from the issuer: signed in as its token says, the code gone from the address.
    assert page.url == f"{front}/workbench/"
    assert await page.inner_text("#who-name") == PERSON["name"]
    assert any("/authorize?" in u and "code_challenge=" in u for u in seen)
    assert any("code=" in u for u in seen)  # the issuer's redirect, replaced at once
    assert len(issuer.exchanges) == 1 and len(issuer.exchanges[0]) >= 43
    # Intake took the issuer's RS256 token: the catalogue in force fills the counter form.
    await page.locator("#r-agency option").first.wait_for(state="attached", timeout=30_000)
    assert await page.locator("#r-procedure option").count() > 3
    stored = await page.evaluate("sessionStorage.getItem('onestop.session')")
    assert json.loads(stored)["claims"]["iss"] == issuer.url
    assert not any("access_token" in u or "eyJ" in u for u in seen)

    # A return whose state is not the one sent is refused, and cleaned from the address.
    forged = await context.new_page()
    await forged.goto(f"{front}/workbench/?code=stolen&state=forged")
    text = await forged.locator("#signin-problems:not([hidden])").inner_text(timeout=30_000)
    assert "Phiên đăng nhập không khớp" in text
    assert forged.url == f"{front}/workbench/"

    # The issuer itself refuses a wrong verifier and a code used twice.
    async with httpx.AsyncClient() as c:
        location = (await c.get(f"{issuer.url}/authorize", params={
            "response_type": "code", "client_id": CLIENT_ID,
            "redirect_uri": f"{front}/workbench/", "scope": "openid", "state": "s",
            "code_challenge": b64url(hashlib.sha256(b"right" * 9).digest()),
            "code_challenge_method": "S256"})).headers["location"]
        code = location.split("code=")[1].split("&")[0]
        wrong = await c.post(f"{issuer.url}/token", data={
            "grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID,
            "redirect_uri": f"{front}/workbench/", "code_verifier": "wrong" * 9})
    assert wrong.status_code == 400

    await page.click("#signout")
    await page.locator("#oidc-signin:not([hidden])").wait_for(timeout=30_000)
    assert await page.evaluate("sessionStorage.getItem('onestop.session')") is None
    assert not errors, errors
    await context.close()

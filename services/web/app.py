"""The screens' front service: the officers' workbench (`/workbench/`) and the citizens'
page (`/tra-cuu/`), static files only (no build step, no CDN), their settings
(`/config.json`), and in development the sign-in that issues the development issuer's
tokens (`POST /dev/token`, 404 in production).

Why a front of its own (docs/architecture.md, "The screens"): the pages span the five
services, so no one of them owns them; the development issuer's secret stays out of the
data services; the front holds no data, scales and caches on its own, and is not one of the
services `make bench` measures. The pages call each service directly with the bearer token
in a header (each service allows this front's origin, ONESTOP_CORS_ORIGINS); the token
lives in the tab's sessionStorage, never in a URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field

from contracts.common import Problem
from services.common.http import edge as http
from services.common.http.auth import NATIONAL, TOKEN_HOURS, issue_token
from services.common.http.edge import ApiError, not_found
from services.common.observability.logs import configure_logging
from services.law.catalog import load_catalogs
from services.product.roles import ROLE_PERMISSIONS, Role
from services.web.people import DEVELOPMENT_PEOPLE
from services.web.settings import WebSettings, origin

STATIC = Path(__file__).with_name("static")
# The people who use the screens (systems and our services call with API keys).
PEOPLE_ROLES = {
    Role.counter_officer: "Cán bộ một cửa",
    Role.processing_officer: "Chuyên viên xử lý",
    Role.department_head: "Trưởng phòng",
    Role.office_leader: "Lãnh đạo cơ quan",
    Role.national_monitor: "Giám sát toàn quốc",
    Role.ops: "Vận hành",
}
NATIONAL_ROLES = frozenset({Role.national_monitor, Role.ops})


def page_policy(connect: list[str]) -> str:
    """The pages' content security policy: their own scripts and styles only (no inline
    script, no eval), and calls to the services (and the issuer's token endpoint) named."""
    sources = " ".join(["'self'", *sorted(set(connect))])
    return (f"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {sources}; font-src 'self'; object-src 'none'; base-uri 'none'; "
            "form-action 'self'; frame-ancestors 'none'")


class DevTokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["counter_officer", "processing_officer", "department_head", "office_leader",
                  "national_monitor", "ops"]
    agency: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=200)


def build(settings: WebSettings | None = None) -> FastAPI:
    settings = settings or WebSettings()
    app = FastAPI(title="Một cửa điện tử — màn hình", version="1.0.0", docs_url=None,
                  redoc_url=None, openapi_url=None)
    http.install(app, max_body_bytes=settings.http_max_body_bytes)
    services = settings.service_urls()
    issuer = [origin(settings.oidc_token_endpoint)] if settings.oidc_token_endpoint else []
    policies = {"workbench": page_policy([origin(u) for u in services.values()] + issuer),
                "tra-cuu": page_policy([origin(services["intake"])]), "home": page_policy([])}
    catalogs = load_catalogs(Path(settings.catalog_dir))
    development = settings.env != "production"

    def page(name: str, file: Path) -> FileResponse:
        return FileResponse(file, media_type="text/html; charset=utf-8", headers={
            "Content-Security-Policy": policies[name], "Cache-Control": "no-cache"})

    @app.get("/")
    async def home() -> FileResponse:
        return page("home", STATIC / "index.html")

    @app.get("/workbench")
    async def workbench_slash() -> RedirectResponse:
        return RedirectResponse("/workbench/", status_code=308)

    @app.get("/workbench/")
    async def workbench() -> FileResponse:
        return page("workbench", STATIC / "workbench" / "index.html")

    @app.get("/tra-cuu")
    async def citizen_slash() -> RedirectResponse:
        return RedirectResponse("/tra-cuu/", status_code=308)

    @app.get("/tra-cuu/")
    async def citizen() -> FileResponse:
        return page("tra-cuu", STATIC / "tra-cuu" / "index.html")

    @app.get("/config.json")
    async def config() -> dict[str, Any]:
        body: dict[str, Any] = {
            "env": settings.env, "services": services,
            "roles": {role.value: {"label": label,
                                   "permissions": sorted(p.value for p in ROLE_PERMISSIONS[role])}
                      for role, label in PEOPLE_ROLES.items()},
            "auth": {"mode": "oidc" if settings.oidc else "development"}}
        if settings.oidc:
            body["auth"] |= {
                "authorization_endpoint": settings.oidc_authorization_endpoint,
                "token_endpoint": settings.oidc_token_endpoint,
                "end_session_endpoint": settings.oidc_end_session_endpoint,
                "client_id": settings.oidc_client_id, "scope": settings.oidc_scope}
        if development and not settings.oidc:
            latest = catalogs.latest.catalog
            body["development"] = {
                "national": NATIONAL,
                "people": {role.value: {"name": name, "agency": agency}
                           for role, (name, agency) in DEVELOPMENT_PEOPLE.items()},
                "agencies": [{"code": a.code, "name": a.name, "level": a.level.value,
                              "parent": a.parent} for a in latest.agencies if a.valid_to is None]}
        return body

    @app.post("/dev/token")
    async def dev_token(body: DevTokenIn) -> JSONResponse:
        """Development only: a token of the development issuer for the role and agency
        chosen (as `make up` prints them). Production has no such page: 404."""
        if not development:
            raise not_found("Không có trang này", "not found")
        role = Role(body.role)
        national = body.agency == NATIONAL
        if national != (role in NATIONAL_ROLES) or (
                not national and catalogs.latest.agency(body.agency) is None):
            raise ApiError(422, [Problem.of(
                "unknown_agency", f"Đơn vị {body.agency} không phù hợp với vai trò {role}",
                f"agency {body.agency} is not one a {role} signs in with", "agency")])
        secret = settings.auth_jwt_secret.get_secret_value().split(",")[0].strip()
        token = issue_token(role, user=body.name, name=body.name, agency=body.agency,
                            secret=secret, issuer=settings.auth_issuer,
                            audience=settings.auth_audience)
        return JSONResponse({"access_token": token, "token_type": "Bearer",
                             "expires_in": TOKEN_HOURS * 3600},
                            headers={"Cache-Control": "no-store"})

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def main() -> int:
    settings = WebSettings()
    configure_logging("web", settings.log_level)
    config = http.server_config(build(settings), host=settings.http_host,
                                port=settings.http_port, trusted=settings.trusted_proxies,
                                log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run()  # stops cleanly on SIGTERM and SIGINT
    return 0

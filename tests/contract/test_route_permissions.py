"""Every HTTP route asks who calls, except the few that are public by design."""

from __future__ import annotations

import importlib

import pytest

from contracts.topics import SERVICES
from services.common.http.auth import all_routes, route_permissions

# Public by design: probes, the citizens' status lookup, the verification link printed on a
# signed document, and the dashboard's page itself (its data routes ask for a token).
PUBLIC = {
    ("GET", "/health"), ("GET", "/metrics"),
    ("GET", "/api/v1/public/dossiers/{code}"), ("POST", "/api/v1/public/dossiers/{code}/rating"),
    ("GET", "/api/v1/documents/{document_id}/verify"), ("POST", "/api/v1/documents/verify"),
    ("GET", "/"),
}


def _routes(service: str, tmp_path) -> list[tuple[str, str, object]]:
    app = importlib.import_module(f"services.{service}.app")
    runtime = app.build()
    found = []
    for route in all_routes(runtime.app):
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD" and not route.path.startswith(("/docs", "/redoc", "/openapi")):
                found.append((method, route.path, route))
    return found


def _permissions(route: object) -> list[str]:
    return [p.value for p in route_permissions(route)]


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_but_the_public_ones_requires_a_permission(
        service: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_VAR_DIR", str(tmp_path))
    routes = _routes(service, tmp_path)
    assert len(routes) >= 5 and any(_permissions(r) for _, _, r in routes)
    unguarded = [(m, p) for m, p, r in routes if not _permissions(r) and (m, p) not in PUBLIC]
    assert unguarded == []
    guarded_public = [(m, p) for m, p, r in routes if _permissions(r) and (m, p) in PUBLIC]
    assert guarded_public == []


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_documents_the_credentials_and_401_403(
        service: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_VAR_DIR", str(tmp_path))
    app = importlib.import_module(f"services.{service}.app").build().app
    schema = app.openapi()
    assert {"bearer", "api_key"} <= set(schema["components"]["securitySchemes"])
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            if (method.upper(), path) in PUBLIC:
                assert "security" not in op and "401" not in op["responses"]
            else:
                assert op["security"] and {"401", "403"} <= set(op["responses"]), (method, path)
                assert op["x-permissions"], (method, path)

"""What operators ask every service: `/health` (each check named, 503 when one fails) and
`/metrics` (Prometheus). The checks are given as functions, so this module knows nothing of
what it checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

# A check answers (ok, detail) or None when it does not apply (e.g. no relay yet).
Check = Callable[[], Awaitable[tuple[bool, str] | None]]


def install_ops(app: FastAPI, service: str, checks: Mapping[str, Check],
                registry: CollectorRegistry) -> None:
    @app.get("/health", tags=["ops"])
    async def health() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                outcome = await check()
            except Exception as exc:
                outcome = (False, repr(exc))
            if outcome is not None:
                ok, detail = outcome
                results[name] = "ok" if ok else f"error: {detail}"[:200]
        ok = all(v == "ok" for v in results.values())
        return JSONResponse({"service": service, "status": "ok" if ok else "degraded",
                             "checks": results}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

"""What operators ask every service: `/health` (each check named, 503 when one fails) and
`/metrics` (Prometheus). The checks are given as functions, so this module knows nothing of
what it checks.

Every check runs at once beside the others and is given `timeout` seconds: one that has not
answered by then fails as "timed out", so a database or broker that hangs turns `/health`
into a 503 naming it, never into a request that hangs with it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

# A check answers (ok, detail) or None when it does not apply (e.g. no relay yet).
Check = Callable[[], Awaitable[tuple[bool, str] | None]]


async def _bounded(check: Check, seconds: float) -> tuple[bool, str] | None:
    try:
        return await asyncio.wait_for(check(), seconds)
    except TimeoutError:
        return False, f"timed out after {seconds:g} s"
    except Exception as exc:
        return False, repr(exc)


async def run_checks(checks: Mapping[str, Check], seconds: float) -> dict[str, str]:
    """Each applicable check's name -> "ok" or "error: <detail>", each within `seconds`."""
    outcomes = await asyncio.gather(*(_bounded(check, seconds) for check in checks.values()))
    results: dict[str, str] = {}
    for name, outcome in zip(checks, outcomes, strict=True):
        if outcome is not None:
            ok, detail = outcome
            results[name] = "ok" if ok else f"error: {detail}"[:200]
    return results


def install_ops(app: FastAPI, service: str, checks: Mapping[str, Check],
                registry: CollectorRegistry, timeout: float = 2.0) -> None:
    @app.get("/health", tags=["ops"])
    async def health() -> JSONResponse:
        results = await run_checks(checks, timeout)
        ok = all(v == "ok" for v in results.values())
        return JSONResponse({"service": service, "status": "ok" if ok else "degraded",
                             "checks": results}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

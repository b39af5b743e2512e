"""HTTP pieces every service shares: /health, /metrics, and one shape for 4xx errors."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from services.common.telemetry import current_traceparent, new_traceparent

if TYPE_CHECKING:
    from services.common.runtime import Runtime

# Pydantic error types a person reads, in Vietnamese.
_VI = {
    "missing": "thiếu trường bắt buộc",
    "extra_forbidden": "trường không được phép",
    "string_too_short": "chuỗi quá ngắn",
    "string_too_long": "chuỗi quá dài",
    "string_pattern_mismatch": "sai định dạng",
    "enum": "giá trị không hợp lệ",
    "literal_error": "giá trị không hợp lệ",
    "union_tag_invalid": "loại không hợp lệ",
    "datetime_parsing": "ngày giờ không hợp lệ",
    "timezone_aware": "ngày giờ phải có múi giờ",
    "json_invalid": "JSON không hợp lệ",
}


class ApiError(Exception):
    """A 4xx answer with a machine-readable list of problems."""

    def __init__(self, status: int, problems: list[dict[str, Any]], **extra: Any) -> None:
        super().__init__(problems)
        self.status = status
        self.problems = problems
        self.extra = extra


def problem(code: str, message_vi: str, message_en: str, field: str | None = None,
            **more: Any) -> dict[str, Any]:
    return {"code": code, "field": field, "message_vi": message_vi, "message_en": message_en,
            **more}


def install(app: FastAPI, runtime: Runtime) -> None:
    app.state.runtime = runtime

    @app.middleware("http")
    async def _trace(request: Request, call_next: Any) -> Response:
        token = current_traceparent.set(request.headers.get("traceparent") or new_traceparent())
        try:
            return await call_next(request)
        finally:
            current_traceparent.reset(token)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # A validator may name its own field and Vietnamese text in the error's context.
        problems = [
            problem(e["type"],
                    (e.get("ctx") or {}).get("vi") or _VI.get(e["type"], "dữ liệu không hợp lệ"),
                    e["msg"],
                    (e.get("ctx") or {}).get("field")
                    or ".".join(str(p) for p in e["loc"] if p != "body"))
            for e in exc.errors()
        ]
        return JSONResponse({"detail": "invalid request", "problems": problems}, status_code=422)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse({"detail": exc.problems[0]["message_en"] if exc.problems else "",
                             "problems": exc.problems, **exc.extra}, status_code=exc.status)

    @app.get("/health", tags=["ops"])
    async def health() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            async with runtime.sessions() as s:
                await s.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"error: {exc!r}"[:200]
        try:
            if runtime.producer is None:
                raise RuntimeError("not connected yet")
            await asyncio.wait_for(runtime.producer.client.fetch_all_metadata(), 3)
            checks["broker"] = "ok"
        except Exception as exc:
            checks["broker"] = f"error: {exc!r}"[:200]
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"service": runtime.name, "status": "ok" if ok else "degraded",
                             "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

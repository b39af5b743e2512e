"""HTTP pieces every service shares: /health, /metrics, one shape for every 4xx error (also
documented in each service's OpenAPI), limits on the size of request bodies and headers,
security headers on every answer, the client's address, and the uvicorn server they run in.

Problems are `contracts.common.Problem` (a Reason), built where they are found; this module
only renders them, and `not_found` is the one way any service says 404."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

import h11
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from contracts.common import Problem, Reason
from services.common.errors import DomainError

# Pydantic error types a person reads, in Vietnamese.
_VI = {
    "missing": "thiếu trường bắt buộc",
    "extra_forbidden": "trường không được phép",
    "string_too_short": "chuỗi quá ngắn",
    "string_too_long": "chuỗi quá dài",
    "too_long": "quá nhiều phần tử",
    "too_short": "quá ít phần tử",
    "string_pattern_mismatch": "sai định dạng",
    "enum": "giá trị không hợp lệ",
    "literal_error": "giá trị không hợp lệ",
    "union_tag_invalid": "loại không hợp lệ",
    "datetime_parsing": "ngày giờ không hợp lệ",
    "datetime_type": "ngày giờ không hợp lệ",
    "timezone_aware": "ngày giờ phải có múi giờ",
    "json_invalid": "JSON không hợp lệ",
}

# Starlette/FastAPI's own answers (unparseable body, unknown route, wrong method, too large)
# in the one problems shape: status -> (code, Vietnamese, English).
_HTTP = {
    400: ("bad_request", "Yêu cầu không đọc được (JSON sai hoặc lồng quá sâu)",
          "the request could not be read"),
    404: ("not_found", "Không tìm thấy", "not found"),
    405: ("method_not_allowed", "Phương thức không được hỗ trợ", "method not allowed"),
    413: ("body_too_large", "Nội dung yêu cầu quá lớn", "the request body is too large"),
    414: ("uri_too_long", "Địa chỉ yêu cầu quá dài", "the request's URL is too long"),
    431: ("headers_too_large", "Phần đầu (header) của yêu cầu quá lớn",
          "the request's header fields are too large"),
}


class Problems(BaseModel):
    """The body of every 4xx (and 503) answer of every service: its problems are documented
    as the very type they are built with (a Reason that may add facts, e.g. `successor`)."""

    model_config = ConfigDict(extra="allow")

    detail: str
    problems: list[Problem] = Field(default_factory=list)
    current_status: str | None = Field(default=None,
                                       description="with 409: the dossier's status now")


# Documented on every operation; the body is always `Problems` (503: a dependency is away).
ERROR_STATUSES = {
    "400": "the body could not be read (invalid JSON, or nested too deeply)",
    "401": "no valid credential (bearer token or API key)",
    "403": "the caller's role lacks the permission named, or the agency is outside its tree",
    "404": "not found",
    "409": "not possible in the current state",
    "413": "the request body is over the size limit",
    "414": "the request's URL is over the size limit",
    "422": "invalid request: every problem listed",
    "429": "too many requests (or failed credentials): wait Retry-After seconds",
    "431": "the request's header fields are over the size limit",
    "503": "a dependency (database, broker, data warehouse) is unavailable",
}


class ApiError(DomainError):
    """An answer a route gives while parsing or authorizing (a bad cursor, a wrong code), its
    status named where it is raised; what a use case refuses is a `DomainError` subclass."""

    def __init__(self, status: int, problems: list[Reason],
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(problems, headers=headers, **extra)
        self.status = status  # type: ignore[misc]


def not_found(message_vi: str, message_en: str, field: str | None = None) -> ApiError:
    """The one 404 of every service: what was not found, in both languages."""
    return ApiError(404, [Problem.of("not_found", message_vi, message_en, field)])


def render(problem: Reason) -> dict[str, Any]:
    """A problem as answered: code, field and both texts always (field may be null), a
    legal basis only when it has one, then any facts it adds."""
    body = problem.model_dump(mode="json")
    if body.get("legal_basis") is None:
        body.pop("legal_basis", None)
    first = {k: body.pop(k) for k in ("code", "field", "message_vi", "message_en")}
    return {**first, **body}


def problems_response(status: int, problems: list[Reason],
                      headers: dict[str, str] | None = None, detail: str | None = None,
                      **extra: Any) -> JSONResponse:
    detail = detail if detail is not None else problems[0].message_en if problems else ""
    return JSONResponse({"detail": detail, "problems": [render(p) for p in problems],
                         **extra}, status_code=status, headers=headers)


def too_large_response(limit: int) -> JSONResponse:
    code, vi, en = _HTTP[413]
    return problems_response(413, [Problem.of(code, f"{vi} (tối đa {limit} byte)",
                                              f"{en} (at most {limit} bytes)", "body")])


# JSON writes a NUL character only as this escape (a raw 0x00 is not valid JSON).
NUL_IN_JSON = b"\\u0000"


def _nul_response(where: str) -> JSONResponse:
    # PostgreSQL text cannot hold a NUL character: refused here, not with a 500 later.
    return problems_response(400, [Problem.of(
        "nul_character", "Yêu cầu chứa ký tự NUL, không thể lưu trữ",
        f"the request's {where} holds a NUL character (\\u0000 or %00)", where)])


class BodyLimit:
    """Pure ASGI: refuse request bodies over `max_bytes` with 413, by Content-Length before
    anything is read, and by counting the chunks of a streamed (chunked) body, so a body is
    never buffered whole to find out that it is too large.

    A streamed body that passes the limit is answered here, from inside `receive`, and the
    application is told the client went away (`http.disconnect`); whatever it answers after
    that is dropped. Raising from `receive` instead would not work: FastAPI turns any
    exception met while reading a body into a 400, and middleware task groups wrap it."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b""):
            await _nul_response("query")(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await too_large_response(self.max_bytes)(scope, receive, send)
            return
        received = 0
        started = refused = False
        tail = b""

        async def limited_receive() -> Message:
            nonlocal received, refused, tail
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                answer = None
                if received > self.max_bytes:
                    answer = too_large_response(self.max_bytes)
                elif NUL_IN_JSON in tail + body:  # the escape may straddle two chunks
                    answer = _nul_response("body")
                tail = body[-(len(NUL_IN_JSON) - 1):]
                if answer is not None:
                    refused = True
                    if not started:
                        await answer(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


def client_address(request: Request) -> str:
    """The client's address, for every rate limit and the audit trail: the peer, or the
    address a trusted proxy forwarded (uvicorn rewrites it only for ONESTOP_TRUSTED_PROXIES,
    see `server_config`), never a header any client may send."""
    return request.client.host if request.client else "-"


# Where Edge keeps the `access_token` it took out of the query string: only a route that
# declares it (auth.require(..., query_token=True)) reads it from there.
QUERY_TOKEN = "onestop.query_token"
# Request heads larger than this (all header fields, or the URL) are answered 431 / 414.
MAX_HEADER_BYTES = 64 * 1024
# What uvicorn's h11 reads of one request head before it gives up: room to read a head
# several times over the limit whole and answer it, instead of dropping the connection.
HEAD_READ_BYTES = 1024 * 1024

# Query parameters whose values never reach a trace or a log line, and any JWT-shaped value.
_SECRET_PARAM = re.compile(
    r"(?i)(^|[?&])([^=&#?/]*(?:token|api[_-]?key|secret|password|passwd|signature|sig)"
    r"[^=&#?/]*)=([^&#]*)")
_JWT = re.compile(r"eyJ[\w-]+\.[\w-]+\.[\w-]*")


def redact_url(url: str) -> str:
    """A URL (or query string) with the values of token-like parameters replaced."""
    return _JWT.sub("REDACTED", _SECRET_PARAM.sub(r"\1\2=REDACTED", url))


def _take_query_token(scope: Scope) -> None:
    """Moves `access_token` out of the query string into the scope, before anything (the
    tracing middleware, a log line, an error page) reads the URL."""
    query: bytes = scope.get("query_string", b"")
    if b"access_token" not in query:
        return
    kept, token = [], None
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        if unquote_plus(name.decode("latin-1")) == "access_token":
            token = unquote_plus(value.decode("latin-1"))
        else:
            kept.append(part)
    scope["query_string"] = b"&".join(kept)
    scope[QUERY_TOKEN] = token


# A page of ours (the dashboard) loads only its own scripts, styles and data.
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
               "form-action 'self'; frame-ancestors 'none'")
# FastAPI's /docs and /redoc are an inline script over Swagger UI / ReDoc from their CDN.
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
               "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net "
               "https://fonts.googleapis.com; img-src 'self' data: https:; "
               "font-src 'self' https://fonts.gstatic.com; worker-src 'self' blob:; "
               "connect-src 'self'; object-src 'none'; base-uri 'none'; "
               "frame-ancestors 'none'")
_EVERY_ANSWER = [(b"x-content-type-options", b"nosniff")]
_HTML = [(b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer")]


def _head_problem(status: int, limit: int) -> JSONResponse:
    code, vi, en = _HTTP[status]
    where = "headers" if status == 431 else "url"
    return problems_response(status, [Problem.of(code, f"{vi} (tối đa {limit} byte)",
                                                 f"{en} (at most {limit} bytes)", where)])


class Edge:
    """Pure ASGI, outside everything else (the tracing middleware included): takes the
    query's `access_token` out of the URL, answers an oversized request head 431 / 414 in
    the problems shape, and adds security headers (nosniff on every answer; a content
    security policy, no framing and no referrer on every HTML page)."""

    def __init__(self, app: ASGIApp, docs_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        _take_query_token(scope)
        policy = (DOCS_POLICY if scope.get("path") in self.docs_paths else PAGE_POLICY).encode()

        async def secured_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                names = {name.lower() for name, _ in headers}
                extra = list(_EVERY_ANSWER)
                content_type = next((v for k, v in headers if k.lower() == b"content-type"),
                                    b"")
                if content_type.startswith(b"text/html"):
                    extra += [*_HTML, (b"content-security-policy", policy)]
                headers += [(k, v) for k, v in extra if k not in names]
                message = {**message, "headers": headers}
            await send(message)

        target = len(scope.get("raw_path") or b"") + len(scope.get("query_string", b""))
        head = sum(len(k) + len(v) + 4 for k, v in scope.get("headers", ()))
        if head > MAX_HEADER_BYTES or target > MAX_HEADER_BYTES:
            await _head_problem(431 if head > MAX_HEADER_BYTES else 414, MAX_HEADER_BYTES)(
                scope, receive, secured_send)
            return
        await self.app(scope, receive, secured_send)


class EdgeProtocol(H11Protocol):
    """uvicorn's h11 protocol, whose own refusals (a head past HEAD_READ_BYTES, a request
    h11 cannot parse) are answered in the problems shape like every other 4xx."""

    def send_400_response(self, msg: str) -> None:
        status = 431 if len(self.conn.trailing_data[0]) > HEAD_READ_BYTES else 400
        code, vi, en = _HTTP[status]
        body = json.dumps({"detail": en, "problems": [render(Problem.of(code, vi, en))]},
                          ensure_ascii=False).encode()
        for event in (h11.Response(status_code=status, reason=b"", headers=[
                          (b"content-type", b"application/json"),
                          (b"content-length", str(len(body)).encode()),
                          (b"x-content-type-options", b"nosniff"),
                          (b"connection", b"close")]),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event) or b"")
        self.transport.close()


def trusted_proxies(spec: str) -> list[str]:
    return [p.strip() for p in spec.split(",") if p.strip()]


def server_config(app: ASGIApp, *, host: str, port: int, trusted: str = "",
                  **options: Any) -> uvicorn.Config:
    """How every service is served: forwarded headers believed only from the configured
    proxies (uvicorn's default believes any local peer, so anyone who reaches the port
    through a local hop could name their own address), request heads read up to
    HEAD_READ_BYTES so that a large one gets its 431, uvicorn's refusals as problems."""
    proxies = trusted_proxies(trusted)
    return uvicorn.Config(app, host=host, port=port, http=EdgeProtocol,
                          proxy_headers=bool(proxies), forwarded_allow_ips=proxies or [],
                          h11_max_incomplete_event_size=HEAD_READ_BYTES, server_header=False,
                          **options)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _document_errors(schema: dict[str, Any]) -> None:
    """Every operation documents its 4xx answers as `Problems` (in place of FastAPI's
    HTTPValidationError, which the services never send), and /metrics as text."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problems_schema = Problems.model_json_schema(ref_template="#/components/schemas/{model}")
    components.update(problems_schema.pop("$defs", {}))
    components["Problems"] = problems_schema
    ref = {"$ref": "#/components/schemas/Problems"}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                if status in ("401", "403") and not operation.get("security"):
                    continue  # a public route (health, metrics, the citizens' lookup)
                if status == "429" and path in ("/health", "/metrics"):
                    continue  # public routes are rate-limited, others after failed credentials
                if path == "/health" and status == "503":
                    # degraded: the same body as 200, with the failing checks named
                    responses[status] = {"description": "degraded: a check failed",
                                         "content": {"application/json": {"schema": {
                                             "type": "object"}}}}
                    continue
                responses[status] = {"description": description,
                                     "content": {"application/json": {"schema": ref}}}
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused not in str(schema.get("paths")):
            components.pop(unused, None)


def _openapi_with_errors(app: FastAPI) -> Callable[[], dict[str, Any]]:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_errors(generate())
        return app.openapi_schema  # type: ignore[return-value]

    return openapi


def origins(spec: str) -> list[str]:
    return [o.strip().rstrip("/") for o in spec.split(",") if o.strip()]


def install(app: FastAPI, *, max_body_bytes: int, cors_origins: str = "") -> None:
    """Every service's HTTP edge: the body limit, one problem shape for
    every 4xx, documented in its OpenAPI, and the Edge outside the whole stack; CORS for
    the named browser origins only (the screens call with a bearer token, no cookies)."""
    # Added last, so it is the outermost middleware: a large body is refused first.
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    if cors_origins:
        # Outside the body limit, so a 413 still reaches the page that sent the body.
        app.add_middleware(CORSMiddleware, allow_origins=origins(cors_origins),
                           allow_credentials=False, allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
                           expose_headers=["Retry-After", "Content-Disposition"], max_age=600)
    app.openapi = _openapi_with_errors(app)  # type: ignore[method-assign]
    # Outside even what instrumentation wrapped around the stack (it replaces the builder
    # too), so a query token is gone before a span records the URL.
    build = app.build_middleware_stack
    docs = tuple(p for p in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
                 if p)
    app.build_middleware_stack = lambda: Edge(build(), docs)  # type: ignore[method-assign]

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # A validator may name its own field and Vietnamese text in the error's context.
        problems: list[Reason] = [
            Problem.of(e["type"],
                       str((e.get("ctx") or {}).get("vi")
                           or _VI.get(e["type"], "dữ liệu không hợp lệ")),
                       str(e["msg"]),
                       str((e.get("ctx") or {}).get("field")
                           or ".".join(str(p) for p in e["loc"] if p != "body")))
            for e in exc.errors()
        ]
        return problems_response(422, problems, detail="invalid request")

    @app.exception_handler(DomainError)
    async def _refused(_request: Request, exc: DomainError) -> JSONResponse:
        # Every refusal of every use case is answered here, once.
        return problems_response(exc.status, exc.problems, headers=exc.headers, **exc.extra)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, vi, en = _HTTP.get(exc.status_code, ("http_error", "Yêu cầu không hợp lệ",
                                                   str(exc.detail)))
        return problems_response(exc.status_code, [Problem.of(code, vi, en)],
                                 headers=getattr(exc, "headers", None))

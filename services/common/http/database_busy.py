"""The HTTP edge when the database cannot answer in time: a person gets 503 with
`Retry-After`, soon, in the one problems shape, never a 500 with a traceback.

A request waits for SQLite's write lock at most `busy_seconds` (db.waiting_at_most);
background work (the consumer, the relay) keeps its longer wait: nobody stands behind it.
A database error that says the database is away or busy (locked, a connection lost, no
pooled connection free in time) is answered 503; any other error is left to the handlers
it has."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.types import ASGIApp, Receive, Scope, Send

from contracts.common import Problem
from services.common.http.edge import problems_response
from services.common.messaging.consumer import describe
from services.common.observability.logs import get_logger
from services.common.persistence.db import waiting_at_most

log = get_logger(__name__)

RETRY_AFTER_SECONDS = 5

BUSY = Problem.of("database_busy",
                  "Cơ sở dữ liệu đang bận, xin thử lại sau ít giây",
                  "the database is busy (locked by other work); try again in a few seconds")
UNAVAILABLE = Problem.of("database_unavailable",
                         "Cơ sở dữ liệu tạm thời không trả lời, xin thử lại sau ít giây",
                         "the database is not answering for now; try again in a few seconds")


class ShortWaits:
    """Pure ASGI: the database waits of a request are bounded by `busy_seconds`."""

    def __init__(self, app: ASGIApp, busy_seconds: float) -> None:
        self.app = app
        self.busy_seconds = busy_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with waiting_at_most(self.busy_seconds):
            await self.app(scope, receive, send)


def is_locked(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and "locked" in str(exc.orig).lower()


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    problem = BUSY if is_locked(exc) else UNAVAILABLE
    log.warning("database unavailable; answered 503", method=request.method,
                path=request.url.path, error=describe(exc))
    return problems_response(503, [problem],
                             headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def install(app: FastAPI, *, busy_seconds: float) -> None:
    app.add_middleware(ShortWaits, busy_seconds=busy_seconds)
    for error in (OperationalError, InterfaceError, PoolTimeout):
        app.add_exception_handler(error, _unavailable)

"""One retry policy for the whole runtime: a failure is either transient (the database or
the broker is away: wait it out, never blame what was being processed) or it is the fault of
the thing processed (a record, an outbox row: answer it at once, retrying cannot help).

The consumer, the outbox relay, dead-letter publishing and start-up all decide with
`is_transient`, and wait with `retrying`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka.errors import (
    AuthenticationFailedError,
    ClusterAuthorizationFailedError,
    KafkaError,
    KafkaTimeoutError,
    KafkaUnavailableError,
    ProducerClosed,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from services.common.observability.logs import get_logger

log = get_logger(__name__)
T = TypeVar("T")

# aiokafka marks these not retriable, yet none is the fault of one record: an expired send
# means the broker was away, and a permission missing would refuse every record alike.
NOT_THE_RECORDS_FAULT: tuple[type[BaseException], ...] = (
    KafkaTimeoutError, ProducerClosed, KafkaUnavailableError, TopicAuthorizationFailedError,
    ClusterAuthorizationFailedError, AuthenticationFailedError, SaslAuthenticationFailed,
)


def is_transient(exc: BaseException) -> bool:
    """True: wait and try again. False: the record (or row) itself is at fault."""
    if isinstance(exc, (asyncio.CancelledError, *NOT_THE_RECORDS_FAULT)):
        return True
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    if isinstance(exc, OperationalError | InterfaceError | OSError | ConnectionError):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


async def retrying(action: Callable[[], Awaitable[T]], what: str, *, delay: float = 1.0,
                   max_delay: float = 1.0) -> T:
    """Run `action` until it succeeds, waiting out transient failures (the delay doubles up
    to `max_delay`); any other failure is raised to the caller at once."""
    while True:
        try:
            return await action()
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning(f"{what}; retrying", error=repr(exc)[:300], wait_seconds=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)

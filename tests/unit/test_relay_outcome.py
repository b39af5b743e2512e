"""A send's outcome as the relay reads it (relay.py `_outcome`): a send the producer
cancelled is that row's failure, to retry; the relay's own cancellation is not swallowed."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.structs import RecordMetadata

from services.common.messaging.relay import _outcome


async def test_a_send_the_producer_cancelled_is_the_rows_outcome() -> None:
    sent: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
    sent.cancel()  # what a stopping producer does to the sends it still holds
    assert isinstance(await _outcome(sent), asyncio.CancelledError)


async def test_a_failed_send_is_the_rows_outcome() -> None:
    sent: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
    sent.set_exception(ValueError("refused"))
    outcome = await _outcome(sent)
    assert isinstance(outcome, ValueError) and str(outcome) == "refused"


async def test_the_relay_cancelled_while_it_waits_for_an_ack_stops() -> None:
    sent: asyncio.Future[RecordMetadata] = asyncio.get_running_loop().create_future()
    waiting = asyncio.create_task(_outcome(sent))
    await asyncio.sleep(0)  # the task now waits on the send
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert waiting.cancelled()

"""/health's checks: each bounded, all run beside each other, one that hangs named as
timed out while the others still answer."""

from __future__ import annotations

import asyncio

from services.common.http.ops import run_checks


async def test_a_check_that_hangs_is_named_and_does_not_hold_the_others() -> None:
    async def ok() -> tuple[bool, str]:
        return True, ""

    async def hangs() -> tuple[bool, str]:
        await asyncio.Event().wait()
        return True, ""

    async def fails() -> tuple[bool, str]:
        raise ConnectionError("refused")

    async def absent() -> None:
        return None

    results = await run_checks({"database": hangs, "broker": ok, "relay": absent,
                                "storage": fails}, 0.2)
    assert results == {"database": "error: timed out after 0.2 s", "broker": "ok",
                       "storage": "error: ConnectionError('refused')"}

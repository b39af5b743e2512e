"""The tests' one wait on a fact (tests/integration/support.py): its value, its failure."""

from __future__ import annotations

import asyncio
import inspect
import re

import pytest

from tests.integration.support import eventually


async def test_returns_the_first_truthy_value_of_a_sync_check() -> None:
    seen = iter([None, 0, [], {"state": "done"}, {"state": "later"}])
    assert await eventually(lambda: next(seen), "the state", interval=0) == {"state": "done"}


async def test_awaits_an_async_check() -> None:
    calls = 0

    async def check() -> int:
        nonlocal calls
        calls += 1
        return calls if calls >= 3 else 0
    assert await eventually(check, "the third call", interval=0) == 3


async def test_a_lambda_returning_a_coroutine_is_awaited() -> None:
    async def found() -> str:
        return "row"
    assert await eventually(lambda: found(), "the row") == "row"


async def test_names_what_and_the_last_value_on_timeout() -> None:
    with pytest.raises(AssertionError, match=re.escape(
            "not within 0.2 s: the withdrawn cases; last seen: []")):
        await eventually(lambda: [], "the withdrawn cases", seconds=0.2, interval=0.05)


async def test_names_the_last_exception_on_timeout() -> None:
    def check() -> bool:
        raise KeyError("no such row")
    with pytest.raises(AssertionError, match=r"the row; last seen: KeyError\('no such row'\)"):
        await eventually(check, "the row", seconds=0.2, interval=0.05)


async def test_an_exception_that_clears_is_passed_through() -> None:
    answers: list[object] = [ConnectionError("not listening"), ValueError("half written"), 7]

    def check() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer
    assert await eventually(check, "the service", interval=0) == 7


async def test_a_check_that_hangs_does_not_outlive_the_wait() -> None:
    async def hangs() -> bool:
        await asyncio.sleep(3600)
        return True
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AssertionError, match="the hanging check; last seen: TimeoutError"):
        await eventually(hangs, "the hanging check", seconds=0.3, interval=0.05)
    assert loop.time() - started < 5


async def test_the_default_wait_is_generous() -> None:
    assert inspect.signature(eventually).parameters["seconds"].default >= 90

"""The services' event loop: uvloop unless ONESTOP_EVENT_LOOP says the standard one."""

from __future__ import annotations

import asyncio

import pytest
import uvloop

from services.common.runtime import loop_factory
from services.common.settings import ServiceSettings


def test_services_run_on_uvloop_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ONESTOP_EVENT_LOOP", raising=False)
    factory = loop_factory(ServiceSettings().event_loop)
    assert factory is not None
    with asyncio.Runner(loop_factory=factory) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)
        assert runner.run(asyncio.sleep(0, "ran")) == "ran"


def test_the_standard_loop_can_be_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_EVENT_LOOP", "asyncio")
    factory = loop_factory(ServiceSettings().event_loop)
    assert factory is None
    with asyncio.Runner(loop_factory=factory) as runner:
        assert not isinstance(runner.get_loop(), uvloop.Loop)


def test_an_unknown_loop_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONESTOP_EVENT_LOOP", "trio")
    with pytest.raises(ValueError, match="ONESTOP_EVENT_LOOP"):
        ServiceSettings()

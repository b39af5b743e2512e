"""The local stack's ports come from below the ephemeral range, so no outgoing connection
can take one between `free_port()` and the service's own bind."""

from __future__ import annotations

import itertools
import socket

import pytest

from deploy.local import broker
from deploy.local.broker import _ephemeral_start, free_port


def test_ports_are_below_the_ephemeral_range_distinct_and_bindable() -> None:
    top = _ephemeral_start()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    for port in ports:
        assert broker._LOWEST_PORT <= port < top
        with socket.socket() as s:
            s.bind(("127.0.0.1", port))


def test_a_port_with_a_listener_is_never_given(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        taken = listener.getsockname()[1]
        listener.listen()
        # The first two picks land on the taken port, the next ones on the ports above it.
        picks = itertools.chain([taken, taken], itertools.count(taken + 1))
        monkeypatch.setattr(broker, "_LOWEST_PORT", max(1024, taken - 5000))
        monkeypatch.setattr(broker, "_ephemeral_start", lambda: taken + 5000)
        monkeypatch.setattr(broker.random, "randrange", lambda lo, hi: next(picks))
        monkeypatch.setattr(broker, "_PORTS_GIVEN", set())
        port = free_port()
    assert port > taken

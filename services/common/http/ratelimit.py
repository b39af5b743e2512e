"""Per-client token buckets, answered 429 with Retry-After: the public routes' request
limits, and the limit on failed credentials (auth.py).

The client is `http.client_address(request)`: the peer, or the address a trusted proxy
forwarded (ONESTOP_TRUSTED_PROXIES), never a header anyone may send.

Kept in the process: each replica limits on its own, so N replicas allow N times the rate;
that bounds walking dossier codes without a shared store on the citizens' path."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from contracts.common import Problem
from services.common.http.edge import ApiError

_MAX_CLIENTS = 100_000  # the oldest bucket is forgotten first, so memory stays bounded


class RateLimit:
    """`per_minute` requests of a client, `burst` of them at once; `code` and `what` (in
    Vietnamese and English) name what was too many in the 429."""

    def __init__(self, per_minute: float, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic, *,
                 code: str = "rate_limited",
                 what: tuple[str, str] = ("lượt tra cứu", "lookups")) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, int(per_minute)))
        self.clock = clock
        self.code, self.what = code, what
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _tokens(self, client: str, now: float) -> float:
        tokens, at = self._buckets.pop(client, (self.burst, now))
        return min(self.burst, tokens + (now - at) * self.rate)

    def _keep(self, client: str, tokens: float, now: float) -> None:
        self._buckets[client] = (tokens, now)
        while len(self._buckets) > _MAX_CLIENTS:
            self._buckets.popitem(last=False)

    def refused(self, wait: int) -> ApiError:
        vi, en = self.what
        return ApiError(429, [Problem.of(
            self.code, f"Quá nhiều {vi}; vui lòng thử lại sau {wait} giây",
            f"too many {en}; try again in {wait} s", None)],
            headers={"Retry-After": str(wait)})

    def _wait(self, tokens: float) -> int:
        return math.ceil((1.0 - tokens) / self.rate) if self.rate > 0 else 3600

    def take(self, client: str) -> None:
        """One request of `client`, or ApiError 429 saying when to come back."""
        now = self.clock()
        tokens = self._tokens(client, now)
        if tokens < 1.0:
            self._keep(client, tokens, now)
            raise self.refused(self._wait(tokens))
        self._keep(client, tokens - 1.0, now)

    def check(self, client: str) -> None:
        """429 when `client` has nothing left, without spending anything."""
        now = self.clock()
        tokens = self._tokens(client, now)
        self._keep(client, tokens, now)
        if tokens < 1.0:
            raise self.refused(self._wait(tokens))

    def spend(self, client: str) -> None:
        """Counts one against `client` (never below empty): a failure, after the fact."""
        now = self.clock()
        self._keep(client, max(0.0, self._tokens(client, now) - 1.0), now)

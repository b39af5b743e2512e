"""A per-client token bucket for public routes, answered 429 with Retry-After.

Kept in the process: each replica limits on its own, so N replicas allow N times the rate;
that bounds walking dossier codes without a shared store on the citizens' path."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from contracts.common import Problem
from services.common.http import ApiError

_MAX_CLIENTS = 100_000  # the oldest bucket is forgotten first, so memory stays bounded


class RateLimit:
    def __init__(self, per_minute: float, burst: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1, int(per_minute)))
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str) -> None:
        """One request of `client`, or ApiError 429 saying when to come back."""
        now = self.clock()
        tokens, at = self._buckets.pop(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            wait = math.ceil((1.0 - tokens) / self.rate) if self.rate > 0 else 3600
            raise ApiError(429, [Problem.of(
                "rate_limited", f"Quá nhiều lượt tra cứu; vui lòng thử lại sau {wait} giây",
                f"too many lookups; try again in {wait} s", None)],
                headers={"Retry-After": str(wait)})
        self._buckets[client] = (tokens - 1.0, now)
        while len(self._buckets) > _MAX_CLIENTS:
            self._buckets.popitem(last=False)

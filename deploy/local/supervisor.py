"""Keep the local stack's services running: a service that exits is restarted with backoff.

One province's bad record may crash intake; under `make up` that must not stop the other
four services. As a process manager would (systemd's Restart=, Kubernetes' CrashLoopBackOff),
the supervisor restarts the service that exited after a delay that doubles with each
consecutive crash, up to a ceiling, and starts again from the first delay once a run lasted
long enough to count as healthy. It says what it does on stdout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol


class _Process(Protocol):
    returncode: int | None

    def poll(self) -> int | None: ...


class Child(Protocol):
    """What is supervised: deploy.local.stack.ServiceProcess fits."""

    @property
    def process(self) -> _Process | None: ...

    def start(self) -> object: ...


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0  # seconds before the first restart
    maximum: float = 30.0  # the delay doubles up to this
    reset_after: float = 60.0  # a run at least this long resets the delay to `initial`

    def delay(self, restart: int) -> float:
        """Delay before restart number `restart` (1 for the first) of a crash series."""
        return min(self.initial * 2 ** (restart - 1), self.maximum)


@dataclass
class _State:
    started_at: float
    restarts: int = 0  # consecutive: reset after a healthy run
    total_restarts: int = 0
    restart_at: float | None = None  # a restart is due at this time


@dataclass
class Supervisor:
    children: Mapping[str, Child]
    backoff: Backoff = field(default_factory=Backoff)
    say: Callable[[str], None] = print
    clock: Callable[[], float] = time.monotonic
    describe: Callable[[str], str] = lambda name: ""  # e.g. "; see var/log/intake.log"
    _state: dict[str, _State] = field(default_factory=dict)

    def __post_init__(self) -> None:
        now = self.clock()
        self._state = {name: _State(started_at=now) for name in self.children}

    def restarts(self, name: str) -> int:
        return self._state[name].total_restarts

    def poll(self) -> None:
        """One non-blocking round: notice exits, schedule restarts, perform those now due."""
        now = self.clock()
        for name, child in self.children.items():
            state = self._state[name]
            if state.restart_at is not None:
                if now >= state.restart_at:
                    self._restart(name, child, state, now)
                continue
            process = child.process
            code = process.poll() if process is not None else None
            if process is None or code is None:
                continue
            if now - state.started_at >= self.backoff.reset_after:
                state.restarts = 0  # it ran healthily before this crash: a new series
            state.restarts += 1
            delay = self.backoff.delay(state.restarts)
            state.restart_at = now + delay
            self.say(f"{name} exited ({code}); restarting in {delay:g} s "
                     f"(restart {state.restarts}){self.describe(name)}")

    def _restart(self, name: str, child: Child, state: _State, now: float) -> None:
        state.restart_at = None
        state.started_at = now
        state.total_restarts += 1
        try:
            child.start()
        except OSError as exc:  # could not even spawn: count it as one more crash
            state.restarts += 1
            delay = self.backoff.delay(state.restarts)
            state.restart_at = now + delay
            self.say(f"{name} could not be started ({exc}); retrying in {delay:g} s "
                     f"(restart {state.restarts})")
            return
        pid = getattr(child.process, "pid", "?")
        self.say(f"{name} restarted (pid {pid})")

    def run(self, should_stop: Callable[[], bool], interval: float = 0.5) -> None:
        """Poll until `should_stop()` (set by the SIGINT/SIGTERM handler) is true."""
        while not should_stop():
            self.poll()
            time.sleep(interval)

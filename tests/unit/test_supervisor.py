"""`make up`'s supervisor restarts a service that exits, with growing delays, and leaves the
others running."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.local.stack import ServiceProcess
from deploy.local.supervisor import Backoff, Supervisor

# Appends its start time to a file; exits 70 on its first two runs, then stays up.
FLAKY = """
import sys, time
path = sys.argv[1]
with open(path, "a") as f:
    f.write(f"{time.time()}\\n")
runs = len(open(path).read().split())
if runs <= 2:
    sys.exit(70)
time.sleep(60)
"""


@pytest.fixture
def children(tmp_path: Path) -> Iterator[dict[str, ServiceProcess]]:
    starts = tmp_path / "starts"
    env = dict(os.environ)
    kids = {
        "intake": ServiceProcess("intake", 0, env, tmp_path / "intake.log",
                                 command=[sys.executable, "-c", FLAKY, str(starts)]),
        "reporting": ServiceProcess("reporting", 0, env, tmp_path / "reporting.log",
                                    command=[sys.executable, "-c", "import time; time.sleep(60)"]),
    }
    for kid in kids.values():
        kid.start()
    yield kids
    for kid in kids.values():
        kid.kill()


def test_a_crashed_service_is_restarted_with_growing_delays_and_siblings_untouched(
        children: dict[str, ServiceProcess], tmp_path: Path) -> None:
    lines: list[str] = []
    sibling = children["reporting"].process
    assert sibling is not None
    supervisor = Supervisor(children, Backoff(initial=0.2, maximum=5.0, reset_after=30.0),
                            say=lines.append)
    starts_file = tmp_path / "starts"

    def settled() -> bool:
        flaky = children["intake"].process
        runs = len(starts_file.read_text().split()) if starts_file.exists() else 0
        return runs >= 3 and flaky is not None and flaky.poll() is None

    deadline = time.monotonic() + 15
    supervisor.run(lambda: settled() or time.monotonic() > deadline, interval=0.02)
    time.sleep(0.3)  # it stays up: no further restart is scheduled
    supervisor.poll()

    assert settled(), lines
    exits = [line for line in lines if "exited" in line]
    assert exits == ["intake exited (70); restarting in 0.2 s (restart 1)",
                     "intake exited (70); restarting in 0.4 s (restart 2)"]
    assert supervisor.restarts("intake") == 2
    starts = [float(t) for t in starts_file.read_text().split()]
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4 and gaps[1] > gaps[0], gaps
    # The sibling is the same process, still running, never restarted.
    assert children["reporting"].process is sibling and sibling.poll() is None
    assert supervisor.restarts("reporting") == 0


class _FakeProcess:
    def __init__(self) -> None:
        self.returncode: int | None = None
        self.pid = 1

    def poll(self) -> int | None:
        return self.returncode


class _FakeChild:
    def __init__(self) -> None:
        self.process: _FakeProcess | None = None
        self.starts = 0

    def start(self) -> _FakeChild:
        self.starts += 1
        self.process = _FakeProcess()
        return self


def test_the_delay_doubles_to_a_ceiling_and_resets_after_a_healthy_run() -> None:
    now = [0.0]
    child = _FakeChild().start()
    lines: list[str] = []
    sup = Supervisor({"intake": child}, Backoff(initial=1, maximum=4, reset_after=60),
                     say=lines.append, clock=lambda: now[0])

    def crash_and_restart(after: float) -> None:
        now[0] += after
        assert child.process is not None
        child.process.returncode = 70
        sup.poll()  # noticed; restart scheduled
        delay = float(lines[-1].split("restarting in ")[1].split(" s")[0])
        now[0] += delay - 0.01
        sup.poll()
        assert child.process.returncode == 70  # not yet
        now[0] += 0.01
        sup.poll()  # restarted
        assert child.process.returncode is None

    for _ in range(4):
        crash_and_restart(after=1)
    crash_and_restart(after=61)  # ran a minute: a new series
    delays = [line.split("restarting in ")[1] for line in lines if "exited" in line]
    assert delays == ["1 s (restart 1)", "2 s (restart 2)", "4 s (restart 3)",
                      "4 s (restart 4)", "1 s (restart 1)"]
    assert child.starts == 6

"""The breach forecast: a hand-checkable case, and precision and recall measured on a
simulated history (offices of different speeds; the forecast learns their step means from
completed dossiers and is judged against what then happened to the open ones)."""

from __future__ import annotations

import random

from services.reporting.forecast import (
    Durations,
    OpenHolding,
    StepMean,
    precision_recall,
    predict,
)

DAY = 1.0  # durations in working days: the forecast is unit-free


def test_a_hand_checked_case() -> None:
    durations = Durations([StepMean("O1", "A", 2.0, 10), StepMean("O1", "B", 3.0, 4),
                           StepMean("O2", "B", 1.0, 2)], default_step=0.5)
    holdings = [
        # 1 day into A (mean 2), B after it (mean 3): 4 days left, 3 available → miss.
        OpenHolding("late", "O1", "A", "cb.a", 0.0, 1.0, 3.0, ("B",)),
        OpenHolding("fine", "O1", "A", "cb.b", 1.0, 1.0, 5.0, ("B",)),
        # Waiting for assignment at O1's step B behind one other; two officers hold B
        # there: 0.5 × 3 = 1.5 days of queue, then 3 days of B.
        OpenHolding("first", "O1", "B", None, 5.0, 0.0, 3.5, ()),
        OpenHolding("second", "O1", "B", None, 6.0, 0.0, 4.0, ()),
        OpenHolding("b1", "O1", "B", "cb.c", 2.0, 4.0, 9.0, ()),
        OpenHolding("b2", "O1", "B", "cb.d", 2.0, 0.0, 9.0, ()),
        # A step O3 never completed: every office's mean of it (3·4 + 1·2) / 6; one nobody
        # completed: the default.
        OpenHolding("other", "O3", "B", "cb.e", 0.0, 0.0, 2.0, ("Z",)),
    ]
    got = {p.dossier_code: p for p in predict(durations, holdings)}
    assert got["late"].remaining == 4.0 and got["late"].miss
    assert got["fine"].remaining == 4.0 and not got["fine"].miss
    assert (got["first"].remaining, got["first"].queue_ahead, got["first"].miss) == (3.0, 0,
                                                                                    False)
    assert (got["second"].remaining, got["second"].queue_ahead) == (4.5, 1)
    assert got["second"].miss
    assert got["b1"].remaining == 0.0  # past the mean: due any moment, never negative
    assert got["other"].remaining == 14 / 6 + 0.5 and got["other"].miss
    assert precision_recall(["late", "second", "x"], ["late", "second", "y", "z"]) == (
        2 / 3, 0.5)
    assert precision_recall([], []) == (0.0, 0.0)


def simulated_history(seed: int) -> tuple[list[StepMean], list[OpenHolding], set[str]]:
    """Three offices (mean days of steps A and B: 1+1, 2+1.5, 3+2.5), a 5-day legal time.
    300 finished dossiers per office teach the means; 200 open ones per office, caught at
    a random moment of their life, are forecast; each really misses when A + B > 5."""
    rnd = random.Random(seed)
    offices = {"O1": (1.0, 1.0), "O2": (2.0, 1.5), "O3": (3.0, 2.5)}
    legal = 5.0

    def duration(mean: float) -> float:
        return mean * rnd.uniform(0.4, 1.6)

    means = []
    for office, (a, b) in offices.items():
        done_a = [duration(a) for _ in range(300)]
        done_b = [duration(b) for _ in range(300)]
        means += [StepMean(office, "A", sum(done_a) / 300, 300),
                  StepMean(office, "B", sum(done_b) / 300, 300)]
    holdings, missed = [], set()
    for office, (a, b) in offices.items():
        for i in range(200):
            code = f"{office}-{i}"
            da, db = duration(a), duration(b)
            at = rnd.uniform(0, da + db)  # where it stands when the forecast runs
            if at >= legal:
                continue  # already late: the near-due alert has fired long ago
            if da + db > legal:
                missed.add(code)
            who = f"cb.{i % 4}"
            if at < da:
                holdings.append(OpenHolding(code, office, "A", who, at, at, legal - at, ("B",)))
            else:
                holdings.append(OpenHolding(code, office, "B", who, at, at - da, legal - at, ()))
    return means, holdings, missed


def test_precision_and_recall_on_a_simulated_history() -> None:
    means, holdings, missed = simulated_history(20261129)
    predicted = [p.dossier_code for p in predict(Durations(means, default_step=DAY), holdings)
                 if p.miss]
    precision, recall = precision_recall(predicted, missed)
    print(f"\nbreach forecast on a simulated history: {len(holdings)} open dossiers, "
          f"{len(missed)} really missed, {len(predicted)} forecast; "
          f"precision {precision:.2f}, recall {recall:.2f}")
    assert missed and predicted
    assert precision > 0.5 and recall > 0.5

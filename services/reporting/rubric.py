"""The rubric that scores the internal evaluation (Decree 61/2018 Art. 30,
docs/law.md#evaluation-and-satisfaction): dated data in `evaluation_rubric.yaml`, one
version per date it comes into force, each giving per index the levels it scores (office,
department, officer), its weight, which way is better and its bands (the points a value
earns), and the grades a score reaches.

A period is scored by the version in force on its last day. A mistake in the file stops the
service at start-up with `file:line: field: message` (the catalogue's way:
services/law/yamldata.py): the schema's errors, then the rubric's own (an index listed
twice, at a level that does not measure it, bands or grades out of order, two versions on
one day). Pure: reads its file once, no other I/O."""

from __future__ import annotations

from datetime import date
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.common import Problem
from services.common.errors import Invalid
from services.law.yamldata import load_yaml_model, located

DEFAULT_FILE = Path(__file__).with_name("evaluation_rubric.yaml")

Level = Literal["office", "department", "officer"]
# Which level measures which index (services/reporting/evaluation.py computes them).
MEASURED: dict[str, tuple[str, ...]] = {
    "on_time_share": ("office",),
    "time_ratio": ("office",),
    "supplements_per_dossier": ("office",),
    "contacts_per_dossier": ("office",),
    "online_share": ("office",),
    "satisfaction": ("office",),
    "step_on_time_share": ("office", "department", "officer"),
    "avg_days_per_step": ("office", "department", "officer"),
    "overdue_days_per_step": ("office", "department", "officer"),
}
IndexName = Literal["on_time_share", "time_ratio", "supplements_per_dossier",
                    "contacts_per_dossier", "online_share", "satisfaction",
                    "step_on_time_share", "avg_days_per_step", "overdue_days_per_step"]


class RubricError(ValueError):
    pass


class _Strict(BaseModel):
    # Written by people: a misspelt key is an error, not ignored.
    model_config = ConfigDict(extra="forbid")


class Band(_Strict):
    at: float = Field(description="higher is better: a value at least this; lower: at most")
    points: float = Field(ge=0, le=100)


class IndexRule(_Strict):
    index: IndexName
    criterion: str = Field(min_length=1, description="what Art. 30 asks that it measures")
    levels: list[Level] = Field(min_length=1)
    weight: float = Field(gt=0)
    better: Literal["higher", "lower"]
    bands: list[Band] = Field(min_length=1, description="best first: the first band the "
                              "value reaches gives its points")
    otherwise: float = Field(default=0, ge=0, le=100, description="points below every band")

    def points(self, value: float) -> float:
        for band in self.bands:
            if (value >= band.at) if self.better == "higher" else (value <= band.at):
                return band.points
        return self.otherwise


class Grade(_Strict):
    from_score: float = Field(ge=0, le=100)
    label: str = Field(min_length=1)


class RubricVersion(_Strict):
    valid_from: date
    source: str = Field(min_length=1)
    indices: list[IndexRule] = Field(min_length=1)
    grades: list[Grade] = Field(min_length=1, description="highest first; the last from 0")

    def rules(self, level: str) -> list[IndexRule]:
        return [r for r in self.indices if level in r.levels]

    def score(self, level: str, values: dict[str, Any]) -> dict[str, Any]:
        """The points of each index of `level` that has a value, their weighted mean
        (0-100; None when no index has a value) and its grade."""
        points: dict[str, float] = {}
        weights = total = 0.0
        for rule in self.rules(level):
            value = values.get(rule.index)
            if value is None:
                continue
            points[rule.index] = rule.points(float(value))
            weights += rule.weight
            total += rule.weight * points[rule.index]
        score = round(total / weights, 2) if weights else None
        grade = None if score is None else next(
            (g.label for g in self.grades if score >= g.from_score), self.grades[-1].label)
        return {"points": points, "score": score, "grade": grade}

    def json(self) -> dict[str, Any]:
        return {"valid_from": self.valid_from.isoformat(), "source": self.source,
                "indices": [r.model_dump(mode="json") for r in self.indices],
                "grades": [g.model_dump(mode="json") for g in self.grades]}


class RubricFile(_Strict):
    versions: list[RubricVersion] = Field(min_length=1)


Located = tuple[tuple[Any, ...], str]


def problems(rubric: RubricFile) -> list[Located]:
    """What the schema cannot see."""
    out: list[Located] = []
    days = [v.valid_from for v in rubric.versions]
    for i, (one, two) in enumerate(pairwise(days), start=1):
        if two <= one:
            out.append((("versions", i, "valid_from"),
                        f"{two:%d/%m/%Y} is not after the version before it ({one:%d/%m/%Y})"))
    for i, version in enumerate(rubric.versions):
        where = ("versions", i)
        seen: set[str] = set()
        for j, rule in enumerate(version.indices):
            if rule.index in seen:
                out.append(((*where, "indices", j, "index"), f"{rule.index} is listed twice"))
            seen.add(rule.index)
            for k, level in enumerate(rule.levels):
                if level not in MEASURED[rule.index]:
                    out.append(((*where, "indices", j, "levels", k),
                                f"{rule.index} is not measured per {level}"))
            ats = [b.at for b in rule.bands]
            ordered = (all(a > b for a, b in pairwise(ats))
                       if rule.better == "higher"
                       else all(a < b for a, b in pairwise(ats)))
            if not ordered:
                out.append(((*where, "indices", j, "bands"),
                            "bands go from the best value down: 'at' "
                            + ("decreasing" if rule.better == "higher" else "increasing")))
        scores = [g.from_score for g in version.grades]
        if any(a <= b for a, b in pairwise(scores)) or scores[-1] != 0:
            out.append(((*where, "grades"),
                        "grades go from the highest score down, the last from_score 0"))
    return out


class NoRubric(RubricError, Invalid):
    """No rubric is in force on the day a period ends: that period cannot be evaluated."""

    def __init__(self, on: date | None) -> None:
        self.message = (f"no evaluation rubric in force on {on:%d/%m/%Y}" if on
                        else "no evaluation rubric loaded")
        Invalid.__init__(self, [Problem.of(
            "no_rubric", "Chưa có bộ tiêu chí đánh giá áp dụng cho kỳ này"
            + (f" ({on:%d/%m/%Y})" if on else ""), self.message, "year")])

    def __str__(self) -> str:
        return self.message


class Rubrics:
    def __init__(self, rubric: RubricFile, path: Path) -> None:
        self.path = path
        self.versions = rubric.versions

    def in_force(self, on: date) -> RubricVersion:
        found = [v for v in self.versions if v.valid_from <= on]
        if not found:
            raise NoRubric(on)
        return found[-1]


def load_rubrics(path: Path | str = DEFAULT_FILE) -> Rubrics:
    path = Path(path)
    rubric = load_yaml_model(path, RubricFile, RubricError, what="evaluation rubric")
    if found := problems(rubric):
        raise RubricError("invalid evaluation rubric\n" + "\n".join(located(path, found)))
    return Rubrics(rubric, path)

"""One problem type: rules, ingest feedback and HTTP answers all carry contracts.common.Problem
(a Reason); the HTTP layer only renders it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from contracts.common import CODE_MAX, LONG_MAX, SHORT_MAX, Problem, Reason
from contracts.ingest import IngestRejected
from services.common.http.edge import Problems, not_found, problems_response, render

ROOT = Path(__file__).resolve().parents[2]


def test_a_problem_renders_in_the_answer_shape() -> None:
    assert list(render(Problem.of("bad_cursor", "Con trỏ", "invalid cursor")).items()) == [
        ("code", "bad_cursor"), ("field", None), ("message_vi", "Con trỏ"),
        ("message_en", "invalid cursor")]


def test_facts_and_a_legal_basis_are_shown_only_when_given() -> None:
    inactive = render(Problem.of("agency_not_active", "v", "e", "agency_code", successor=None))
    assert inactive == {"code": "agency_not_active", "field": "agency_code",
                        "message_vi": "v", "message_en": "e", "successor": None}
    based = render(Reason(code="c", message_vi="v", message_en="e", legal_basis="Điều 64"))
    assert based["legal_basis"] == "Điều 64"


def test_texts_built_around_what_a_client_sent_are_clipped_not_refused() -> None:
    long = "x" * 5000
    problem = Problem.of(long, long, long, long)
    assert (len(problem.code), len(problem.message_vi), len(problem.message_en),
            len(problem.field or "")) == (CODE_MAX, LONG_MAX, LONG_MAX, SHORT_MAX)
    # ...so the answer always matches the documented Problems schema.
    error = not_found(f"Không tìm thấy hồ sơ {long}", f"no dossier {long}", "code")
    assert error.status == 404
    body = json.loads(problems_response(error.status, error.problems).body)
    assert Problems.model_validate(body).problems[0].code == "not_found"
    assert body["detail"] == body["problems"][0]["message_en"]


def test_a_problem_travels_on_a_topic_as_a_plain_reason() -> None:
    feedback = IngestRejected(
        rejected_event_id="e-1", rejected_at=datetime(2026, 3, 2, tzinfo=UTC),
        problems=[Problem.of("missing_component", "v", "e", "components", component="GKS")])
    assert feedback.model_dump(mode="json")["problems"] == [
        {"code": "missing_component", "message_vi": "v", "message_en": "e",
         "field": "components", "legal_basis": None}]

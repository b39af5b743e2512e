"""Processing's refusals are kinds of the one error base, each built with its problems in
both languages: the one handler (services/common/http/edge.py) answers them as the routes used
to, status, problems and extra keys."""

from __future__ import annotations

import json
from typing import Any

from contracts.common import Problem
from services.common.errors import DomainError
from services.common.http.edge import problems_response
from services.processing import overdue
from services.processing.case_reads import NoApology, NotDecided
from services.processing.case_records import NotFound, NotNow, Unfit
from services.processing.officer_writes import KeyRaced
from services.processing.result_signer import SigningUnavailable
from services.processing.workflow import Action, InvalidAction, State, WrongState


def answer(exc: DomainError) -> tuple[int, dict[str, Any], dict[str, str]]:
    r = problems_response(exc.status, exc.problems, headers=exc.headers, **exc.extra)
    return r.status_code, json.loads(r.body), {k: v for k, v in r.headers.items()
                                                if k == "retry-after"}


def test_a_wrong_state_names_the_state_and_only_what_an_officer_may_do() -> None:
    wrong = WrongState(State.in_step, [Action.withdraw, Action.claim])
    assert answer(NotNow(wrong)) == (409, {
        "detail": "not possible while the case is in_step; allowed: withdraw, claim",
        "problems": [{"code": "wrong_state", "field": "action",
                      "message_vi": "Không thể thực hiện khi hồ sơ đang ở trạng thái in_step",
                      "message_en": "not possible while the case is in_step; "
                                    "allowed: withdraw, claim"}],
        "current_state": "in_step", "allowed_actions": ["claim"]}, {})


def test_an_unfit_action_answers_every_problem_the_workflow_found() -> None:
    unknown = Problem.of("invalid_field", "sai", "wrong", "items")
    assert answer(Unfit(InvalidAction([unknown])))[:2] == (422, {
        "detail": "wrong", "problems": [{"code": "invalid_field", "field": "items",
                                         "message_vi": "sai", "message_en": "wrong"}]})


def test_not_found_and_the_late_dossiers_refusals() -> None:
    assert answer(NotFound("H26.1"))[:2] == (404, {
        "detail": "no case H26.1", "problems": [{
            "code": "not_found", "field": "code", "message_vi": "Không tìm thấy hồ sơ H26.1",
            "message_en": "no case H26.1"}]})
    status, body, _ = answer(overdue.NotLate("H26.1"))
    assert (status, body["problems"][0]["code"]) == (409, "not_overdue")
    assert isinstance(overdue.Refused([]), DomainError) and overdue.Refused.status == 409
    assert overdue.NotLater.status == 422
    assert answer(NoApology("H26.1"))[0] == answer(NotDecided("H26.1"))[0] == 404


def test_signing_away_is_a_503_with_retry_after_and_keeps_its_reason() -> None:
    away = SigningUnavailable("signing service answered 500: down")
    status, body, headers = answer(away)
    assert (status, headers) == (503, {"retry-after": "5"})
    assert body["problems"][0]["code"] == "signing_unavailable"
    assert body["problems"][0]["message_en"] == ("the result could not be signed; try again "
                                                 "later (signing service answered 500: down)")
    assert str(away) == "signing service answered 500: down"


def test_a_raced_idempotency_key_is_a_conflict_on_the_key() -> None:
    status, body, _ = answer(KeyRaced())
    assert (status, body["problems"][0]["code"], body["problems"][0]["field"]) == \
        (409, "conflict", "Idempotency-Key")

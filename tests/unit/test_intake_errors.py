"""Intake's refusals are domain errors answered by the one handler of the HTTP edge: each
carries its status, its problems in both languages and its facts, so the answer is the
one the routes used to build themselves."""

from __future__ import annotations

import json
from typing import Any

from contracts.common import Problem
from services.common.errors import DomainError
from services.common.http.edge import problems_response
from services.intake.citizen import NotReturned, RatingRefused, RatingUnavailable
from services.intake.counter import NoSuchSlip, Raced
from services.intake.domain import NotFound, Rejected, WrongState
from services.intake.warehouse import WarehouseUnavailable


def answered(exc: DomainError) -> tuple[int, dict[str, Any], dict[str, str]]:
    response = problems_response(exc.status, exc.problems, headers=exc.headers, **exc.extra)
    return response.status_code, json.loads(response.body), dict(response.headers)


def test_a_missing_dossier_is_the_one_404() -> None:
    status, body, _ = answered(NotFound("000.01.01.H26-260105-0001"))
    assert status == 404
    assert body == {"detail": "no dossier 000.01.01.H26-260105-0001", "problems": [{
        "code": "not_found", "field": "code",
        "message_vi": "Không tìm thấy hồ sơ 000.01.01.H26-260105-0001",
        "message_en": "no dossier 000.01.01.H26-260105-0001"}]}


def test_a_wrong_state_is_a_409_with_the_status_now() -> None:
    wrong = WrongState("withdraw", "withdrawn")
    status, body, _ = answered(wrong)
    assert status == 409 and str(wrong) == "withdraw is not possible while the dossier is withdrawn"
    assert body == {"detail": str(wrong), "current_status": "withdrawn", "problems": [{
        "code": "wrong_state", "field": "status",
        "message_vi": "Không thể thực hiện khi hồ sơ đang ở trạng thái withdrawn",
        "message_en": str(wrong)}]}


def test_a_rejection_lists_its_problems_as_found() -> None:
    found = [Problem.of("unknown_agency", "Không có cơ quan", "no such agency", "agency_code"),
             Problem.of("too_many", "Quá nhiều", "too many", "components")]
    status, body, _ = answered(Rejected(found))
    assert status == 422 and [p["code"] for p in body["problems"]] == ["unknown_agency",
                                                                      "too_many"]


def test_an_absent_dependency_is_a_503_to_try_again() -> None:
    away = WarehouseUnavailable("warehouse answered 502")
    status, body, headers = answered(away)
    assert (status, body["problems"][0]["code"], body["problems"][0]["field"]) == (
        503, "warehouse_unavailable", "components")
    assert int(headers["retry-after"]) >= 1 and str(away) == "warehouse answered 502"
    status, body, _ = answered(RatingUnavailable())
    assert (status, body["problems"][0]["code"]) == (503, "rating_unavailable")


def test_the_rating_refusals_and_a_lost_race() -> None:
    assert answered(NotReturned("X-1"))[:2] == (409, {
        "detail": "dossier X-1 has not been returned yet; it cannot be rated", "problems": [{
            "code": "not_returned", "field": "code",
            "message_vi": "Hồ sơ X-1 chưa trả kết quả, chưa thể đánh giá",
            "message_en": "dossier X-1 has not been returned yet; it cannot be rated"}]})
    closed = Problem.of("rating_closed", "Đã hết hạn", "closed", "score")
    assert answered(RatingRefused(409, [closed]))[:2] == (409, {
        "detail": "closed", "problems": [{"code": "rating_closed", "field": "score",
                                          "message_vi": "Đã hết hạn",
                                          "message_en": "closed"}]})
    status, body, _ = answered(Raced())
    assert (status, body["problems"][0]["code"], body["problems"][0]["field"]) == (
        409, "conflict", "submission_id")



def test_a_status_without_the_slip_is_a_409() -> None:
    status, body, _ = answered(NoSuchSlip("refusal.pdf", "received"))
    assert status == 409 and body == {
        "detail": "a received dossier has no refusal.pdf", "current_status": "received",
        "problems": [{"code": "no_such_slip", "field": "slip",
                      "message_vi": "Hồ sơ ở trạng thái received không có phiếu này",
                      "message_en": "a received dossier has no refusal.pdf"}]}

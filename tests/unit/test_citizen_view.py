"""What the citizens' page is told of a dossier (services/intake/citizen.py), from intake's
row and processing's case view as they answer: the stage in plain Vietnamese, the path in
time order with the steps still ahead last and no officer named, the result ready only once
it can be handed over, the verification link only of a signed result, and the rating open
only once the dossier is returned."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.intake import citizen
from services.law.catalog import load_catalogs
from services.law.workdays import TZ

CATALOG = load_catalogs().latest
RECEIVED = datetime(2026, 3, 2, 8, 0, tzinfo=TZ)
ROW = {"code": "000.01.01.H26-260302-0001", "status": "received", "agency_code": "000.01.01.H26",
       "procedure_code": "BHXH.NH.03", "return_channel": "postal", "received_at": RECEIVED,
       "due_at": datetime(2026, 3, 9, 17, 0, tzinfo=TZ)}


def case(state: str, **extra: Any) -> dict[str, Any]:
    return {"state": state, "current_step": 1, "due_at": "2026-03-09T17:00:00+07:00",
            "return_channel": "postal",
            "steps": [{"step_no": 1, "assigned_at": "2026-03-02T08:30:00+07:00",
                       "completed_at": None, "assignee": None}],
            "history": [{"at": "2026-03-02T08:30:00+07:00", "action": "open",
                         "officer": None, "note": None}], **extra}


def test_in_processing_the_path_shows_the_step_under_way_and_the_one_ahead() -> None:
    view = citizen.view(ROW, case("in_step"), CATALOG, None, progress_known=True)
    assert (view["stage"], view["status_vi"]) == ("processing", "Đang giải quyết")
    assert view["procedure_name"] == "Giải quyết hưởng chế độ thai sản"
    assert view["appointment_at"] == "2026-03-09T17:00:00+07:00"
    assert [(p["label_vi"], p["state"]) for p in view["path"]] == [
        ("Tiếp nhận hồ sơ", "done"), ("Bước 1: Xét duyệt hưởng", "current"),
        ("Bước 2: Chi trả", "ahead")]
    assert view["result"] == {"ready": False, "decision": None, "return_channel": "postal",
                              "return_channel_vi": "Gửi qua dịch vụ bưu chính công ích",
                              "returned_at": None, "verification_url": None}
    assert view["rating"] == {"allowed": False}


def test_returned_with_a_signed_result_names_no_officer_and_opens_the_rating() -> None:
    steps = [{"step_no": 1, "assigned_at": "2026-03-02T08:30:00+07:00",
              "completed_at": "2026-03-03T10:00:00+07:00", "assignee": "Nguyễn Văn An"},
             {"step_no": 2, "assigned_at": "2026-03-03T10:00:00+07:00",
              "completed_at": "2026-03-04T10:00:00+07:00", "assignee": "Trần Thị Bình"}]
    history = [{"at": at, "action": action, "officer": "Phạm Văn Cường", "note": note}
               for at, action, note in (
                   ("2026-03-04T11:00:00+07:00", "approve", "Đồng ý, CCCD 001190012345"),
                   ("2026-03-04T11:05:00+07:00", "issue_result", "QD-1"),
                   ("2026-03-05T09:00:00+07:00", "record_return", "postal: EB1"))]
    result = {"decision": "approved", "signed": True, "document_url": "http://d/1",
              "verification_url": "http://d/api/v1/documents/1/verify",
              "returned": {"returned_at": "2026-03-05T09:00:00+07:00",
                           "return_channel": "postal", "reference": "EB1"}}
    rating = {"score": 5, "comment": "Tốt", "rated_at": "x", "changeable_until": "y"}
    view = citizen.view(ROW, case("returned", steps=steps, history=history, current_step=2,
                                  result=result), CATALOG, rating, progress_known=True)
    assert view["status_vi"] == "Đã trả kết quả"
    assert [p["label_vi"] for p in view["path"]] == [
        "Tiếp nhận hồ sơ", "Bước 1: Xét duyệt hưởng", "Bước 2: Chi trả", "Lãnh đạo phê duyệt",
        "Phát hành kết quả (ký số)", "Trả kết quả"]
    said = str(view)
    for private in ("Nguyễn Văn An", "Trần Thị Bình", "Phạm Văn Cường", "001190012345", "EB1"):
        assert private not in said
    assert view["result"]["ready"] is True
    assert view["result"]["verification_url"] == "http://d/api/v1/documents/1/verify"
    assert view["rating"] == {"allowed": True, **rating}


def test_an_unsigned_rendering_has_no_verification_link() -> None:
    result = {"decision": "approved", "verification_url": "http://d/x/verify"}
    view = citizen.view(ROW, case("result_issued", result=result), CATALOG, None,
                        progress_known=True)
    assert view["stage"] == "result_ready" and view["result"]["ready"] is True
    assert view["result"]["verification_url"] is None


def test_without_processing_the_status_is_intakes_own() -> None:
    refused = citizen.view({**ROW, "status": "refused"}, None, CATALOG, None,
                           progress_known=False)
    assert refused["status_vi"].startswith("Không tiếp nhận")
    assert [p["kind"] for p in refused["path"]] == ["received", "refused"]
    waiting = citizen.view(ROW, None, CATALOG, None, progress_known=False)
    assert waiting["stage"] == "received" and waiting["progress_known"] is False
    assert waiting["appointment_at"] == "2026-03-09T17:00:00+07:00"
    # A supplement asked for at the counter is intake's to say, whatever processing holds.
    asked = citizen.view({**ROW, "status": "awaiting_supplement"}, case("waiting"), CATALOG,
                         None, progress_known=True)
    assert asked["stage"] == "awaiting_supplement"

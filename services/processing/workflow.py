"""A case's workflow as data: one table of (state, action) -> next state + events.

The catalogue's steps of a procedure (department, share of the legal time) drive the case
through "in step N" until the last one is completed; a leader then approves or denies, the
result is issued and returned. Every transition gives a new Case, the contract events it
means, and one history row (the control slip's line: who, when, from, to, which step).

Pure: no I/O, no clock (`at` is passed in), no database. case_events.py and
officer_actions.py read the case, call `apply`, write the case and the history row and emit
the events in one transaction (case_records.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from contracts.catalog import Procedure, StepSpec
from contracts.common import (
    MAX_ITEMS,
    ApplicantRef,
    Code,
    DocumentRef,
    LongText,
    Problem,
    Reason,
    ReturnChannel,
    ShortText,
    Timestamp,
)
from contracts.events import (
    DossierResolved,
    Event,
    ResultIssued,
    ResultReturned,
    StepAssigned,
    StepCompleted,
    SupplementItem,
    SupplementRequested,
    VerificationAnswered,
    VerificationRequested,
)
from services.law.workdays import timeliness

# --- states and actions ----------------------------------------------------------------------


class State(StrEnum):
    waiting = "waiting"                        # received, not yet fully digitized
    in_step = "in_step"                        # at step `current_step` of the procedure
    waiting_supplement = "waiting_supplement"  # the applicant was asked to complete it
    waiting_agency = "waiting_agency"          # another agency was asked (liên thông)
    deciding = "deciding"                      # every step done: a leader approves or denies
    approved = "approved"
    denied = "denied"
    stopped = "stopped"                        # dừng xử lý (Decree 118/2025), reported denied
    result_issued = "result_issued"
    returned = "returned"
    withdrawn = "withdrawn"


TERMINAL = frozenset({State.returned, State.withdrawn})


class Action(StrEnum):
    # event-driven (from intake's and digitization's topics)
    open = "open"                              # received + digitized: open at step 1
    supplement_received = "supplement_received"
    withdraw = "withdraw"
    # an officer's
    claim = "claim"
    complete_step = "complete_step"
    return_to_step = "return_to_step"
    request_supplement = "request_supplement"
    ask_agency = "ask_agency"
    record_agency_answer = "record_agency_answer"
    stop = "stop"
    approve = "approve"
    deny = "deny"
    issue_result = "issue_result"
    record_return = "record_return"


# --- the case ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """What the transitions need to know of a case; domain.py maps it to and from the rows."""

    code: str
    agency_code: str
    procedure_code: str
    steps: tuple[StepSpec, ...]
    state: State = State.waiting
    current_step: int | None = None
    holder: str | None = None              # the officer handling the current step
    clock_start: datetime | None = None    # receipt of the complete dossier: the clock runs
    due_at: datetime | None = None         # appointment; renewed when a supplement completes
    applicant: ApplicantRef | None = None  # from ApplicantRecorded; needed by the decision
    result_type: str | None = None         # the catalogue's result of the procedure
    return_channel: ReturnChannel | None = None
    # Where the result went: the postal tracking number, or the online account (kept here,
    # not published: the account is often the applicant's ID number).
    return_reference: str | None = None
    proposal: Literal["approve", "deny"] | None = None  # the last completed step's decision
    supplement_rounds: int = 0             # processing asks once, listing everything
    verifications: int = 0                 # requests to other agencies so far
    open_request: str | None = None        # the request an agency has yet to answer
    asked_agency: str | None = None
    stop_notice: str | None = None
    # Each step's due time on the law's calendar (clock.step_due_times), when the caller
    # has it; otherwise step_due() splits the span by the shares.
    step_dues: tuple[datetime, ...] = ()

    @property
    def step(self) -> StepSpec | None:
        return self.steps[self.current_step - 1] if self.current_step else None


def new_case(code: str, agency_code: str, procedure: Procedure, *,
             received_at: datetime | None = None, due_at: datetime | None = None,
             applicant: ApplicantRef | None = None,
             return_channel: ReturnChannel | None = None,
             step_dues: tuple[datetime, ...] = ()) -> Case:
    """A waiting case of `procedure`, as judged by the catalogue it was received under."""
    return Case(code=code, agency_code=agency_code, procedure_code=procedure.code,
                steps=tuple(procedure.steps), clock_start=received_at, due_at=due_at,
                applicant=applicant, result_type=procedure.result_type,
                return_channel=return_channel, step_dues=step_dues)


def step_due(case: Case, step_no: int) -> datetime | None:
    """Due time of a step: the caller's (on the law's calendar) if given, else its
    cumulative share of the wall-clock span from the clock's start to the appointment.
    Shares summing past 1 are scaled to fit; a step reaching the whole is due at the
    appointment (the same rule as clock.step_due_times)."""
    if len(case.step_dues) == len(case.steps):
        return case.step_dues[step_no - 1]
    if case.due_at is None or case.clock_start is None:
        return case.due_at
    shares = [s.share for s in case.steps[:step_no]]
    part = sum(shares) / max(1.0, sum(s.share for s in case.steps))
    if part >= 1 - 1e-9:
        return case.due_at
    return case.clock_start + (case.due_at - case.clock_start) * part


# --- what goes wrong ---------------------------------------------------------------------------


class WrongState(Exception):
    """The action does not fit the case now; `allowed` is what does (for a 409 answer)."""

    def __init__(self, state: State, allowed: list[Action]) -> None:
        super().__init__(f"not possible while the case is {state}; allowed: "
                         + (", ".join(allowed) or "nothing"))
        self.state = state
        self.allowed = allowed


class InvalidAction(Exception):
    """The action fits, but what came with it does not: every problem in one answer."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


# --- payloads ----------------------------------------------------------------------------------


class Payload(BaseModel):
    # An officer's form: a misspelt key is a mistake to answer, not to ignore.
    model_config = ConfigDict(extra="forbid")


class NoPayload(Payload):
    pass


# An officer's form as the request's JSON body carried it: the action's fields, parsed here
# into the action's Payload (which model depends on the action).
Form = Mapping[str, JsonValue]


class CompleteStep(Payload):
    decision: Literal["approve", "deny"] = Field(description="the step's proposal")
    comment: LongText | None = None


class ReturnToStep(Payload):
    step: int = Field(ge=1)
    comment: LongText = Field(min_length=1, description="why it goes back")


class RequestSupplement(Payload):
    items: list[SupplementItem] = Field(min_length=1, max_length=MAX_ITEMS)


class AskAgency(Payload):
    agency: ShortText = Field(min_length=1)
    sub_due_at: Timestamp
    question: LongText = Field(min_length=1)


class AgencyAnswer(Payload):
    answer_summary: LongText = Field(min_length=1)
    from_agency: ShortText | None = None  # default: the agency asked


class Stop(Payload):
    reasons: list[Reason] = Field(min_length=1, max_length=MAX_ITEMS)
    notice: ShortText = Field(min_length=1, description="the stop notice's number and date")


class Approve(Payload):
    comment: LongText | None = None


class Deny(Payload):
    reasons: list[Reason] = Field(min_length=1, max_length=MAX_ITEMS)
    comment: LongText | None = None


class IssueResult(Payload):
    result_code: Code = Field(min_length=1)
    result_type: ShortText | None = None  # default: the catalogue's
    document_ref: DocumentRef | None = None
    # Set by the service from the document reference (PROCESSING_VERIFY_URL), not typed.
    verification_url: str | None = Field(default=None, max_length=500)


class RecordReturn(Payload):
    return_channel: ReturnChannel | None = None  # default: the one chosen at receipt
    # As intake's form names them: postal needs the tracking number (bưu chính công ích);
    # online may name the portal account; counter pickup needs neither.
    postal_tracking_number: str | None = Field(default=None, min_length=4, max_length=40)
    portal_account: str | None = Field(default=None, min_length=1, max_length=100)


class SupplementIn(Payload):
    # The fields of intake's SupplementReceived that move the case.
    model_config = ConfigDict(extra="ignore")
    complete: bool
    due_at: Timestamp | None = None
    # The new step due times on the law's calendar; none: split the new span by shares.
    step_dues: list[Timestamp] | None = None


class Withdraw(Payload):
    model_config = ConfigDict(extra="ignore")
    reason: LongText | None = None


# --- the transitions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """One action under way: what the effects read."""

    case: Case
    payload: Any
    at: datetime
    officer: str | None
    to: State


Effect = Callable[[Move], tuple[Case, list[Event], str | None]]
Target = State | Callable[[Case, Any], State]


@dataclass(frozen=True)
class Rule:
    to: Target
    effect: Effect
    emits: tuple[type[Event], ...] = ()       # the event classes it may build (documentation)
    payload: type[Payload] = NoPayload
    when: Callable[[Case], bool] = lambda case: True  # a guard beyond the state
    by_holder: bool = False                   # only the officer who claimed the step


@dataclass(frozen=True)
class Transition:
    case: Case
    events: list[Event]
    history: dict[str, Any] = field(default_factory=dict)


def _step_assigned(case: Case, at: datetime, assignee: str | None) -> StepAssigned:
    step = case.step
    assert step is not None and case.current_step is not None
    return StepAssigned(dossier_code=case.code, step_no=case.current_step,
                        step_code=step.code, department=step.department,
                        assignee=assignee, assigned_at=at,
                        step_due_at=step_due(case, case.current_step))


def _resolved(case: Case, at: datetime, decision: Literal["approved", "denied"],
              reasons: list[Reason]) -> DossierResolved:
    assert case.applicant is not None and case.due_at is not None  # checked before
    return DossierResolved(
        dossier_code=case.code, agency_code=case.agency_code,
        procedure_code=case.procedure_code, applicant=case.applicant, resolved_at=at,
        decision=decision, due_at=case.due_at, timeliness=timeliness(at, case.due_at),
        reasons=[_plain(r) for r in reasons])


def _plain(reason: Reason) -> Reason:
    # A Problem given by a caller keeps its extra facts; the event carries the Reason only.
    return Reason(**{name: getattr(reason, name) for name in Reason.model_fields})


def _reasons_note(reasons: list[Reason]) -> str:
    return "; ".join(r.message_vi for r in reasons)


# Each effect: the new case (its state is the rule's target), the events, a history note.

def _open(m: Move) -> tuple[Case, list[Event], str | None]:
    case = replace(m.case, state=m.to, current_step=1, holder=None)
    return case, [_step_assigned(case, m.at, None)], None


def _claim(m: Move) -> tuple[Case, list[Event], str | None]:
    case = replace(m.case, holder=m.officer)
    return case, [_step_assigned(case, m.at, m.officer)], None


def _after_step(case: Case, p: CompleteStep) -> State:
    # A proposal to deny skips the remaining steps (e.g. payment): the leader decides.
    assert case.current_step is not None
    if p.decision == "approve" and case.current_step < len(case.steps):
        return State.in_step
    return State.deciding


def _complete_step(m: Move) -> tuple[Case, list[Event], str | None]:
    old, p = m.case, m.payload
    assert old.step is not None and old.current_step is not None
    nxt = old.current_step + 1 if m.to == State.in_step else None
    done = StepCompleted(
        dossier_code=old.code, step_no=old.current_step, step_code=old.step.code,
        department=old.step.department, completed_at=m.at,
        outcome=timeliness(m.at, step_due(old, old.current_step) or m.at),
        handed_to=old.steps[nxt - 1].department if nxt else None)
    case = replace(old, state=m.to, current_step=nxt or old.current_step, holder=None,
                   proposal=p.decision)
    events: list[Event] = [done]
    if nxt:
        events.append(_step_assigned(case, m.at, None))
    return case, events, f"{p.decision}: {p.comment}" if p.comment else p.decision


def _return_to_step(m: Move) -> tuple[Case, list[Event], str | None]:
    case = replace(m.case, state=State.in_step, current_step=m.payload.step, holder=None,
                   proposal=None)
    return case, [_step_assigned(case, m.at, None)], \
        f"→ {m.payload.step}: {m.payload.comment}"


def _request_supplement(m: Move) -> tuple[Case, list[Event], str | None]:
    old = m.case
    assert old.step is not None
    event = SupplementRequested(
        dossier_code=old.code, requested_at=m.at, stage="processing",
        requested_by=m.officer or old.step.department, items=m.payload.items)
    case = replace(old, state=m.to, supplement_rounds=old.supplement_rounds + 1)
    return case, [event], "; ".join(i.problem_vi for i in m.payload.items)


def _supplement_in(case: Case, p: SupplementIn) -> State:
    return State.in_step if p.complete else State.waiting_supplement


def _supplement_received(m: Move) -> tuple[Case, list[Event], str | None]:
    if m.to == State.waiting_supplement:  # still incomplete: intake keeps asking
        return m.case, [], "incomplete"
    # "Kể từ ngày nhận đủ hồ sơ": the clock starts afresh from the complete dossier.
    case = replace(m.case, state=m.to, clock_start=m.at,
                   due_at=m.payload.due_at or m.case.due_at,
                   step_dues=tuple(m.payload.step_dues or ()))
    return case, [_step_assigned(case, m.at, case.holder)], None


def _ask_agency(m: Move) -> tuple[Case, list[Event], str | None]:
    old, p = m.case, m.payload
    request_id = f"V{old.verifications + 1}"  # unique within the dossier
    event = VerificationRequested(dossier_code=old.code, request_id=request_id,
                                  to_agency=p.agency, requested_at=m.at,
                                  sub_due_at=p.sub_due_at, question=p.question)
    case = replace(old, state=m.to, verifications=old.verifications + 1,
                   open_request=request_id, asked_agency=p.agency)
    return case, [event], f"{p.agency}: {p.question}"


def _agency_answer(m: Move) -> tuple[Case, list[Event], str | None]:
    old, p = m.case, m.payload
    assert old.open_request is not None
    event = VerificationAnswered(dossier_code=old.code, request_id=old.open_request,
                                 from_agency=p.from_agency or old.asked_agency or "",
                                 answered_at=m.at, answer_summary=p.answer_summary)
    case = replace(old, state=m.to, open_request=None, asked_agency=None)
    return case, [event], p.answer_summary


def _stop(m: Move) -> tuple[Case, list[Event], str | None]:
    # Reported as a denial with its reasons, as intake maps a province's status 8.
    case = replace(m.case, state=m.to, holder=None, stop_notice=m.payload.notice)
    return case, [_resolved(m.case, m.at, "denied", m.payload.reasons)], \
        f"{m.payload.notice}: {_reasons_note(m.payload.reasons)}"


def _approve(m: Move) -> tuple[Case, list[Event], str | None]:
    return replace(m.case, state=m.to), [_resolved(m.case, m.at, "approved", [])], \
        m.payload.comment


def _deny(m: Move) -> tuple[Case, list[Event], str | None]:
    return replace(m.case, state=m.to), \
        [_resolved(m.case, m.at, "denied", m.payload.reasons)], \
        _reasons_note(m.payload.reasons)


def _issue_result(m: Move) -> tuple[Case, list[Event], str | None]:
    old, p = m.case, m.payload
    assert old.applicant is not None
    event = ResultIssued(dossier_code=old.code, agency_code=old.agency_code,
                         procedure_code=old.procedure_code, applicant=old.applicant,
                         issued_at=m.at, result_code=p.result_code,
                         result_type=p.result_type or old.result_type or "",
                         document_ref=p.document_ref,
                         verification_url=p.verification_url)
    return replace(old, state=m.to), [event], p.result_code


def _record_return(m: Move) -> tuple[Case, list[Event], str | None]:
    p = m.payload
    channel = p.return_channel or m.case.return_channel
    assert channel is not None
    tracking = p.postal_tracking_number if channel == ReturnChannel.postal else None
    reference = tracking or (p.portal_account if channel == ReturnChannel.online else None)
    event = ResultReturned(dossier_code=m.case.code, returned_at=m.at, return_channel=channel,
                           channel_reference=tracking)
    case = replace(m.case, state=m.to, return_channel=channel, return_reference=reference)
    return case, [event], f"{channel.value}: {reference}" if reference else channel.value


def _withdraw(m: Move) -> tuple[Case, list[Event], str | None]:
    # DossierWithdrawn is intake's event: processing only closes its case.
    return replace(m.case, state=m.to, holder=None), [], m.payload.reason


def _unclaimed(case: Case) -> bool:
    return case.holder is None


def _claimed(case: Case) -> bool:
    return case.holder is not None


_STOP = Rule(State.stopped, _stop, (DossierResolved,), Stop)
_WITHDRAW = Rule(State.withdrawn, _withdraw, (), Withdraw)
_RETURN = Rule(State.returned, _record_return, (ResultReturned,), RecordReturn)

S, A = State, Action
TRANSITIONS: dict[tuple[State, Action], Rule] = {
    (S.waiting, A.open): Rule(S.in_step, _open, (StepAssigned,)),
    (S.waiting, A.withdraw): _WITHDRAW,

    (S.in_step, A.claim): Rule(S.in_step, _claim, (StepAssigned,), when=_unclaimed),
    (S.in_step, A.complete_step): Rule(_after_step, _complete_step,
                                       (StepCompleted, StepAssigned), CompleteStep,
                                       when=_claimed, by_holder=True),
    (S.in_step, A.return_to_step): Rule(
        S.in_step, _return_to_step, (StepAssigned,), ReturnToStep,
        when=lambda c: _claimed(c) and (c.current_step or 0) > 1, by_holder=True),
    (S.in_step, A.request_supplement): Rule(
        S.waiting_supplement, _request_supplement, (SupplementRequested,), RequestSupplement,
        when=lambda c: _claimed(c) and c.supplement_rounds == 0, by_holder=True),
    (S.in_step, A.ask_agency): Rule(S.waiting_agency, _ask_agency, (VerificationRequested,),
                                    AskAgency, when=_claimed, by_holder=True),
    (S.in_step, A.stop): replace(_STOP, when=_claimed, by_holder=True),
    (S.in_step, A.withdraw): _WITHDRAW,

    (S.waiting_supplement, A.supplement_received): Rule(_supplement_in, _supplement_received,
                                                        (StepAssigned,), SupplementIn),
    (S.waiting_supplement, A.stop): _STOP,
    (S.waiting_supplement, A.withdraw): _WITHDRAW,

    (S.waiting_agency, A.record_agency_answer): Rule(S.in_step, _agency_answer,
                                                     (VerificationAnswered,), AgencyAnswer),
    (S.waiting_agency, A.stop): _STOP,
    (S.waiting_agency, A.withdraw): _WITHDRAW,

    # A deny proposal skipped steps: approving it means sending it back first.
    (S.deciding, A.approve): Rule(S.approved, _approve, (DossierResolved,), Approve,
                                  when=lambda c: c.proposal == "approve"),
    (S.deciding, A.deny): Rule(S.denied, _deny, (DossierResolved,), Deny),
    (S.deciding, A.return_to_step): Rule(S.in_step, _return_to_step, (StepAssigned,),
                                         ReturnToStep),
    (S.deciding, A.stop): _STOP,
    (S.deciding, A.withdraw): _WITHDRAW,

    (S.approved, A.issue_result): Rule(S.result_issued, _issue_result, (ResultIssued,),
                                       IssueResult),
    (S.result_issued, A.record_return): _RETURN,
    # A denial's or a stop's written notice with its reasons is what goes back.
    (S.denied, A.record_return): _RETURN,
    (S.stopped, A.record_return): _RETURN,
}
del S, A


# --- applying an action ------------------------------------------------------------------------


def allowed_actions(case: Case) -> list[Action]:
    """What may happen to the case now, in the order of Action."""
    return [a for a in Action
            if (rule := TRANSITIONS.get((case.state, a))) is not None and rule.when(case)]


def _problem(code: str, vi: str, en: str, field_name: str | None = None) -> Problem:
    return Problem.of(code, vi, en, field_name)


def _parse(model: type[Payload], raw: Payload | Form | None) -> Payload:
    if isinstance(raw, model):
        return raw  # built by the caller (an event's fields): already checked
    try:
        if isinstance(raw, Payload):
            return model.model_validate(raw.model_dump(exclude_unset=True))
        return model.model_validate(dict(raw or {}))
    except ValidationError as error:
        raise InvalidAction([_field_problem(e) for e in error.errors()]) from None


def _field_problem(error: Any) -> Problem:
    name = ".".join(str(p) for p in error["loc"]) or None
    if error["type"] == "missing":
        return _problem("missing_field", f"Thiếu thông tin: {name}", f"{name} is required",
                        name)
    if error["type"] == "extra_forbidden":
        return _problem("unknown_field", f"Trường không được chấp nhận: {name}",
                        f"{name} is not a field of this action", name)
    return _problem("invalid_field", f"Thông tin không hợp lệ: {name}",
                    f"{name}: {error['msg']}", name)


def _check(case: Case, action: Action, rule: Rule, p: Any, at: datetime,
           officer: str | None) -> list[Problem]:
    """What the payload's schema cannot see: it depends on the case and the moment."""
    problems: list[Problem] = []
    if rule.by_holder and officer != case.holder:
        problems.append(_problem("not_the_holder", f"Hồ sơ đang do {case.holder} thụ lý",
                                 f"the step is held by {case.holder}", "officer"))
    if action == Action.claim and not officer:
        problems.append(_problem("officer_required", "Thiếu cán bộ thụ lý",
                                 "claiming needs an officer", "officer"))
    if action == Action.open:
        problems += _check_open(case)
    if action == Action.supplement_received and p.step_dues is not None:
        problems += _check_step_dues(case, p.step_dues)
    if action == Action.return_to_step:
        last = (case.current_step or 1) - 1 if case.state == State.in_step else len(case.steps)
        if p.step > last:
            problems.append(_problem("no_such_step", f"Chỉ trả về được bước 1–{last}",
                                     f"a case can go back to steps 1-{last} only", "step"))
    if action == Action.ask_agency and p.sub_due_at <= at:
        problems.append(_problem("sub_due_in_past", "Thời hạn trả lời phải sau thời điểm hỏi",
                                 "the sub-deadline must be after the request", "sub_due_at"))
    if action in (Action.approve, Action.deny, Action.stop, Action.issue_result) and \
            case.applicant is None:
        problems.append(_problem("applicant_unknown", "Chưa nhận được thông tin người nộp",
                                 "the applicant's record has not arrived from intake",
                                 "applicant"))
    if action == Action.issue_result and not (p.result_type or case.result_type):
        problems.append(_problem("missing_field", "Thiếu loại kết quả",
                                 "result_type is required", "result_type"))
    if action == Action.record_return:
        problems += _check_return(case, p)
    return problems


def _check_return(case: Case, p: RecordReturn) -> list[Problem]:
    channel = p.return_channel or case.return_channel
    if channel is None:
        return [_problem("missing_field", "Thiếu hình thức trả kết quả",
                         "return_channel is required", "return_channel")]
    problems: list[Problem] = []
    if channel == ReturnChannel.postal and not p.postal_tracking_number:
        problems.append(_problem(
            "tracking_number_required", "Trả kết quả qua bưu chính cần số hiệu bưu gửi",
            "a postal return needs postal_tracking_number", "postal_tracking_number"))
    # A detail of another channel is a mistake (e.g. the wrong channel), not to be dropped.
    for name, own in (("postal_tracking_number", ReturnChannel.postal),
                      ("portal_account", ReturnChannel.online)):
        if getattr(p, name) is not None and channel != own:
            problems.append(_problem(
                "not_for_this_channel",
                f"{name} không dùng khi trả kết quả {_RETURN_VI[channel]}",
                f"{name} is only for a {own.value} return, not {channel.value}", name))
    return problems


_RETURN_VI = {ReturnChannel.counter: "tại Bộ phận Một cửa",
              ReturnChannel.postal: "qua bưu chính công ích",
              ReturnChannel.online: "trực tuyến"}


def _check_open(case: Case) -> list[Problem]:
    problems = []
    if not case.steps:
        problems.append(_problem("no_steps", "Thủ tục không có bước xử lý",
                                 "the procedure has no steps", "steps"))
    if case.due_at is None or case.clock_start is None:
        problems.append(_problem("not_received", "Chưa có thông tin tiếp nhận hồ sơ",
                                 "the dossier's receipt is not known yet", "due_at"))
    return problems + _check_step_dues(case, case.step_dues)


def _check_step_dues(case: Case, dues: Any) -> list[Problem]:
    if not dues or len(dues) == len(case.steps):
        return []
    return [_problem("step_dues_mismatch", "Số thời hạn bước không khớp số bước của thủ tục",
                     f"{len(dues)} step due times for {len(case.steps)} steps", "step_dues")]


def apply(case: Case, action: Action, payload: Payload | Form | None, at: datetime,
          officer: str | None = None, found: Sequence[Problem] = ()) -> Transition:
    """The case after `action` at `at` by `officer` (None: an event), its events, its
    history row. Raises WrongState or InvalidAction; then nothing happened. `found`: what
    the caller found wrong beyond the table (e.g. the law's clock), answered with the
    table's own problems, after a wrong state."""
    allowed = allowed_actions(case)
    if action not in allowed:
        raise WrongState(case.state, allowed)
    rule = TRANSITIONS[(case.state, action)]
    parsed = _parse(rule.payload, payload)
    if problems := [*_check(case, action, rule, parsed, at, officer), *found]:
        raise InvalidAction(problems)
    to = rule.to if isinstance(rule.to, State) else rule.to(case, parsed)
    new, events, note = rule.effect(Move(case, parsed, at, officer, to))
    history = {"at": at, "action": action.value, "officer": officer,
               "from_state": case.state.value, "to_state": new.state.value,
               "step": case.current_step or new.current_step, "note": note}
    return Transition(new, events, history)

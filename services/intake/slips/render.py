"""A form set and a dossier's context -> the PDF of one slip.

Pure rendering: frozen dataclasses in, PDF bytes out; no database, no HTTP, no clock. The
slip functions check what they are given, pick the form set in force on the day of receipt
(form_sets.py) and draw its body blocks, top to bottom, with the primitives of services.common.pdf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer

from services.common import pdf as layout
from services.intake.slips.form_sets import (
    RULE_SETS,
    ApplicantBlock,
    Block,
    DueBlock,
    SignaturesBlock,
    SlipName,
    SlipRuleSet,
    TextBlock,
    rule_set_for,
)
from services.intake.slips.inputs import (
    CHANNELS_IN,
    CHANNELS_OUT,
    COMPONENT_FORMS,
    ORG_ID_LABEL,
    REUSED_MARK,
    SlipComponent,
    SlipContext,
    SlipProblem,
    local,
    vn_datetime,
)
from services.product.stationery import STATIONERY

_TEXT_STYLES = {"heading": "section", "text": "body", "note": "basis"}
_CONTACT_LABELS = {"address": "Địa chỉ:", "phone": "Số điện thoại:", "email": "Email:"}


@dataclass(frozen=True)
class _Given:
    """What one slip was given beyond its context; a block prints one of these."""

    components: Sequence[SlipComponent] = ()
    due_at: datetime | None = None
    return_text: str = ""
    problems: Sequence[SlipProblem] = ()
    clock_rule_vi: str = ""


def _fill(template: str, ctx: SlipContext) -> str:
    # Placeholders were checked when forms.yaml was loaded (form_sets.PLACEHOLDERS).
    return template.format(agency=ctx.agency.name, officer=ctx.officer)


def _applicant(ctx: SlipContext, rules: SlipRuleSet, block: ApplicantBlock) -> list[Flowable]:
    """Applicant, procedure, channel and time of receipt: every slip's
    (docs/law.md#slips-and-their-contents)."""
    a = ctx.applicant
    is_unit = a.id_label.strip() == ORG_ID_LABEL
    rows: list[tuple[str, str]] = [("Tên đơn vị:" if is_unit else "Họ và tên:", a.name)]
    for field in block.fields:
        if field == "id":
            if a.id_value.strip():
                rows.append((f"{a.id_label}:", a.id_value))
            elif rules.personal_id_on_slip:
                # Decree 118/2025: personal identification is a field of the 2025 slips.
                raise ValueError(f"{rules.name} slips must show the applicant's {a.id_label}")
        elif field in _CONTACT_LABELS:
            if value := getattr(a, field):
                rows.append((_CONTACT_LABELS[field], value))
        elif field == "procedure":
            rows.append(("Thủ tục hành chính:", ctx.procedure_name))
        elif field == "channel":
            rows.append(("Hình thức nộp:", CHANNELS_IN[ctx.channel]))
        else:  # received_at
            rows.append(("Thời gian tiếp nhận:", vn_datetime(ctx.received_at)))
    return [layout.p(_fill(block.intro, ctx)), layout.label_value_table(rows),
            Spacer(1, 2 * mm)]


def _components_table(components: Sequence[SlipComponent]) -> Flowable:
    rows: list[list[Flowable]] = [[layout.p(h, "head") for h in
                                   ("TT", "Tên giấy tờ", "Hình thức", "Số lượng", "Ghi chú")]]
    for i, c in enumerate(components, start=1):
        if c.reused:
            # Held data is not re-submitted (docs/law.md#data-already-held): no copy to count.
            kind, count, note = "Dữ liệu điện tử", "—", REUSED_MARK
        else:
            kind = f"{'Bản chính' if c.original else 'Bản sao'} ({COMPONENT_FORMS[c.form]})"
            count, note = str(c.count), ""
        rows.append([layout.p(str(i), "cell_c"), layout.p(c.name, "cell"),
                     layout.p(kind, "cell_c"), layout.p(count, "cell_c"),
                     layout.p(note, "cell_c")])
    return layout.grid_table(rows, [9 * mm, layout.WIDTH - 100 * mm, 34 * mm, 19 * mm, 38 * mm])


def _block(block: Block, ctx: SlipContext, rules: SlipRuleSet, given: _Given) -> list[Flowable]:
    """One body block of forms.yaml as flowables; form_sets.py has checked it fits the slip."""
    if isinstance(block, ApplicantBlock):
        return _applicant(ctx, rules, block)
    if isinstance(block, TextBlock):
        return [layout.p(_fill(block.text, ctx), _TEXT_STYLES[block.kind])]
    if isinstance(block, DueBlock):
        assert given.due_at is not None  # forms.SLIP_BLOCKS: only the receipt prints it
        return [layout.bold_after(block.label, vn_datetime(given.due_at), "item")]
    if isinstance(block, SignaturesBlock):
        signs = block.applicant_signs == "at_counter" and ctx.channel == "counter"
        return [layout.signatures(block.officer, ctx.officer,
                                  ctx.applicant.name if signs else None)]
    match block.kind:
        case "components":
            return [_components_table(given.components)]
        case "return":
            return [layout.p(given.return_text, "item")]
        case "problems":
            return layout.numbered([(g.text_vi, g.legal_basis) for g in given.problems])
        case "clock_rule":
            return [layout.p(given.clock_rule_vi, "item")]
    raise AssertionError(f"unhandled slip block {block.kind!r}")  # forms.Block lists them all


def _render(ctx: SlipContext, rules: SlipRuleSet, slip: SlipName, given: _Given) -> bytes:
    form = rules.slip(slip)
    body = [f for block in form.body for f in _block(block, ctx, rules, given)]
    head = layout.header(STATIONERY, ctx.agency, ctx.dossier_code,
                         f"({form.form}, {rules.legal_basis})", form.title)
    return layout.build_pdf(head + body, stationery=STATIONERY, dossier_code=ctx.dossier_code,
                            title=form.title, author=ctx.agency.name)


def receipt_slip(ctx: SlipContext, components: list[SlipComponent], due_at: datetime,
                 return_channel: str, return_place: str | None = None, *,
                 form_sets: Sequence[SlipRuleSet] = RULE_SETS) -> bytes:
    """Mẫu số 01: giấy tiếp nhận hồ sơ và hẹn trả kết quả (complete dossier)."""
    layout.ensure_fonts()  # before any Paragraph: they resolve fonts when built
    if not components:
        raise ValueError("a receipt slip lists at least one component")
    if return_channel not in CHANNELS_OUT:
        raise ValueError(f"unknown return channel {return_channel!r}")
    if local(due_at, "due_at") < local(ctx.received_at, "received_at"):
        raise ValueError("due_at is before received_at")
    rules = rule_set_for(ctx.received_at, form_sets)
    ret = CHANNELS_OUT[return_channel] + (f". Địa điểm: {return_place}" if return_place else "")
    return _render(ctx, rules, "receipt",
                   _Given(components=components, due_at=due_at, return_text=ret))


def supplement_request(ctx: SlipContext, problems: list[SlipProblem], clock_rule_vi: str, *,
                       form_sets: Sequence[SlipRuleSet] = RULE_SETS) -> bytes:
    """Mẫu số 02: phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (one request, everything listed)."""
    layout.ensure_fonts()
    if not problems:
        raise ValueError("a supplement request lists at least one problem")
    rules = rule_set_for(ctx.received_at, form_sets)
    return _render(ctx, rules, "supplement",
                   _Given(problems=problems, clock_rule_vi=clock_rule_vi))


def refusal_slip(ctx: SlipContext, reasons: list[SlipProblem], *,
                 form_sets: Sequence[SlipRuleSet] = RULE_SETS) -> bytes:
    """Mẫu số 03: phiếu từ chối tiếp nhận giải quyết hồ sơ (with the reasons' legal basis)."""
    layout.ensure_fonts()
    if not reasons:
        raise ValueError("a refusal slip states at least one reason")
    rules = rule_set_for(ctx.received_at, form_sets)
    return _render(ctx, rules, "refusal", _Given(problems=reasons))

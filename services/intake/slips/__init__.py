"""The slips the one-stop unit hands the applicant at receipt
(docs/law.md#slips-and-their-contents).

Three forms, whose wording follows the form set in force on the day of receipt (a dated
rule, docs/law.md#the-law-as-dated-data):

- Mẫu số 01, giấy tiếp nhận hồ sơ và hẹn trả kết quả  -> `receipt_slip`
- Mẫu số 02, phiếu yêu cầu bổ sung, hoàn thiện hồ sơ  -> `supplement_request`
- Mẫu số 03, phiếu từ chối tiếp nhận giải quyết hồ sơ -> `refusal_slip`

- inputs.py: what a slip is given, and the wording common to every form set
- forms.yaml, form_sets.py: the dated form sets as data, validated at import
- services.common.pdf: page, fonts, QR code, drawing primitives (shared with
  processing's documents)
- render.py: a form set and a dossier's context -> PDF bytes

Every printed time is in Asia/Ho_Chi_Minh.
"""

from services.common.pdf import (
    FONT_BOLD,
    FONT_DIR,
    FONT_REGULAR,
    QR_BORDER,
    QR_BOX_PX,
    qr_png,
    register_fonts,
)
from services.intake.slips.form_sets import (
    RULE_SETS,
    FormSetError,
    SlipRuleSet,
    load_form_sets,
    rule_set_for,
)
from services.intake.slips.inputs import (
    ORG_ID_LABEL,
    PERSONAL_ID_LABEL,
    SlipAgency,
    SlipApplicant,
    SlipComponent,
    SlipContext,
    SlipProblem,
    vn_date,
    vn_datetime,
)
from services.intake.slips.render import receipt_slip, refusal_slip, supplement_request

__all__ = [
    "FONT_BOLD",
    "FONT_DIR",
    "FONT_REGULAR",
    "ORG_ID_LABEL",
    "PERSONAL_ID_LABEL",
    "QR_BORDER",
    "QR_BOX_PX",
    "RULE_SETS",
    "FormSetError",
    "SlipAgency",
    "SlipApplicant",
    "SlipComponent",
    "SlipContext",
    "SlipProblem",
    "SlipRuleSet",
    "load_form_sets",
    "qr_png",
    "receipt_slip",
    "refusal_slip",
    "register_fonts",
    "rule_set_for",
    "supplement_request",
    "vn_date",
    "vn_datetime",
]

"""What a slip is given (frozen dataclasses) and how its values are worded in Vietnamese.

The wording here is common to every form set; what a dated form set changes lives in
forms.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.common import pdf
from services.common.pdf import vn_date as vn_date  # re-exported: slips print dates
from services.law.workdays import TZ

PERSONAL_ID_LABEL = "Số định danh cá nhân"
ORG_ID_LABEL = "Mã số đơn vị"

COMPONENT_FORMS = {"paper": "giấy", "electronic": "điện tử"}

# docs/law.md#channels: channels of receipt and of return are recorded separately.
CHANNELS_IN = {
    "counter": "Trực tiếp tại Bộ phận Một cửa",
    "postal": "Qua dịch vụ bưu chính công ích",
    "online": "Trực tuyến (Cổng Dịch vụ công quốc gia, Cổng dịch vụ công BHXH, VssID, I-VAN)",
    "provincial": "Qua phần mềm tiếp nhận hồ sơ của BHXH địa phương",
}
CHANNELS_OUT = {
    "counter": "Nhận trực tiếp tại Bộ phận Một cửa",
    "postal": "Nhận qua dịch vụ bưu chính công ích",
    "online": "Nhận trực tuyến qua tài khoản dịch vụ công",
}

REUSED_MARK = "dùng lại dữ liệu đã có"


@dataclass(frozen=True)
class SlipAgency:
    """The receiving agency; parent_name is printed above it, as in the forms' header."""

    code: str
    name: str
    parent_name: str | None = None


@dataclass(frozen=True)
class SlipApplicant:
    """An individual (id_label PERSONAL_ID_LABEL) or an employer unit (ORG_ID_LABEL)."""

    name: str
    id_label: str
    id_value: str
    address: str | None = None
    phone: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class SlipComponent:
    """One line of the receipt slip's table (Mẫu số 01, item 1)."""

    name: str
    original: bool = True  # bản chính / bản sao
    count: int = 1
    form: str = "paper"  # paper | electronic
    reused: bool = False  # held data reused, not re-submitted (Decision 1333/QĐ-BHXH, 3(2))

    def __post_init__(self) -> None:
        if self.form not in COMPONENT_FORMS:
            raise ValueError(f"component form must be paper or electronic, not {self.form!r}")
        if self.count < 1:
            raise ValueError(f"component count must be at least 1, not {self.count}")


@dataclass(frozen=True)
class SlipProblem:
    """What is missing or wrong (Mẫu số 02) or why the dossier is refused (Mẫu số 03)."""

    text_vi: str
    legal_basis: str | None = None


@dataclass(frozen=True)
class SlipContext:
    """What every slip prints (docs/law.md#slips-and-their-contents)."""

    dossier_code: str
    agency: SlipAgency
    applicant: SlipApplicant
    procedure_name: str
    received_at: datetime  # timezone-aware; printed in Asia/Ho_Chi_Minh
    officer: str
    channel: str  # counter | postal | online | provincial

    def __post_init__(self) -> None:
        local(self.received_at, "received_at")
        if self.channel not in CHANNELS_IN:
            raise ValueError(f"unknown channel of receipt {self.channel!r}")
        if not self.dossier_code.strip():
            raise ValueError("dossier_code is empty")


def vn_datetime(at: datetime) -> str:
    """'08 giờ 15 phút, ngày 02 tháng 3 năm 2026', in Asia/Ho_Chi_Minh."""
    return pdf.vn_datetime(at, TZ)


def local(at: datetime, what: str) -> datetime:
    """`at` in Asia/Ho_Chi_Minh; `what` names it in the error."""
    # A naive time is ambiguous (server UTC vs Vietnam); refuse rather than guess.
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return at.astimezone(TZ)

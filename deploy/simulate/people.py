"""Who submits the simulated dossiers, and the reasons provinces give: sample values only
(names from common Vietnamese ones, numbers drawn at random, addresses of no one)."""

from __future__ import annotations

import random
from typing import Any

_FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng",
           "Bùi", "Đỗ", "Hồ", "Ngô", "Dương", "Lý")
_MIDDLE = ("Văn", "Thị", "Đức", "Minh", "Ngọc", "Thu", "Hữu", "Thanh", "Quang", "Kim")
_GIVEN = ("An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Lan",
          "Linh", "Long", "Mai", "Nam", "Nga", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang",
          "Tuấn", "Yến")
_FIRMS = ("Công ty TNHH May mặc", "Công ty Cổ phần Xây dựng", "Công ty TNHH Thực phẩm",
          "Hợp tác xã Nông nghiệp", "Công ty Cổ phần Vận tải", "Công ty TNHH Điện tử")
_STREETS = ("Phố Huế", "Lê Lợi", "Trần Hưng Đạo", "Nguyễn Trãi", "Hai Bà Trưng", "Lý Thường Kiệt")


def applicant(rng: random.Random, kind: str) -> dict[str, Any]:
    phone = f"09{rng.randrange(10**8):08d}"
    address = f"{rng.randrange(1, 300)} {rng.choice(_STREETS)}"
    if kind == "organization":
        name = f"{rng.choice(_FIRMS)} {rng.choice(_GIVEN)} {rng.choice(_GIVEN)}"
        return {"kind": "organization", "name": name, "unit_code": f"DN{rng.randrange(10**6):06d}",
                "tax_code": f"0{rng.randrange(10**9):09d}", "phone": phone, "address": address}
    name = f"{rng.choice(_FAMILY)} {rng.choice(_MIDDLE)} {rng.choice(_GIVEN)}"
    return {"kind": "individual", "full_name": name, "id_number": f"0{rng.randrange(10**11):011d}",
            "social_insurance_code": f"{rng.randrange(10**10):010d}", "phone": phone,
            "email": f"nguoinop{rng.randrange(10**6)}@example.vn", "address": address}


def reason(code: str, vi: str, en: str, field_: str | None = None) -> dict[str, Any]:
    return {"code": code, "message_vi": vi, "message_en": en, "field": field_}

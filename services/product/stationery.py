"""What every document the product hands out prints the same way: the state's heading
(Quốc hiệu and Tiêu ngữ) at the top right of the page, above the form's title, and the
system's name as each PDF's creator.

The runtime's PDF helper (services/common/pdf.py) draws whatever heading it is given; the
renderers of the slips, letters and reports give it this one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Stationery:
    heading: tuple[str, ...]  # one line each, bold and centred
    creator: str


STATIONERY = Stationery(
    heading=("CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"),
    creator="BHXH một cửa điện tử tập trung",
)

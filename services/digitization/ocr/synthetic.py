"""Synthetic declaration forms, rendered as a scanner would deliver them: for the tests and the
accuracy figure of `evaluate`, never for production.

The layouts follow the paper forms of the catalogue (TK1-TS, 14-HSB...): numbered labels,
two fields on one line, a signing date and the declarant's signature name that must not be
taken for the fields. The label text is written here independently of
`declaration_forms.py`, so a test does not merely read back the parser's own vocabulary.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
A4_MM = (210, 297)


@dataclass(frozen=True)
class Person:
    full_name: str
    date_of_birth: date
    id_number: str
    social_insurance_code: str
    phone: str = "0912345678"
    address: str = "Số 12 phố Lý Thường Kiệt, phường Cửa Nam, Hà Nội"


@dataclass(frozen=True)
class Distortion:
    """How a page is spoiled after rendering: the scanner's view of a paper form."""

    rotate: float = 0.0  # degrees counter-clockwise; 90/180/270 = page fed sideways/upside down
    gaussian: float = 0.0  # standard deviation of added grey noise, 0-255 scale
    salt_pepper: float = 0.0  # share of pixels set to pure black or white
    blur: float = 0.0  # gaussian blur radius in pixels
    seed: int = 0

    @property
    def label(self) -> str:
        parts = [f"rot{self.rotate:g}" if self.rotate else "",
                 f"gauss{self.gaussian:g}" if self.gaussian else "",
                 f"sp{self.salt_pepper:g}" if self.salt_pepper else "",
                 f"blur{self.blur:g}" if self.blur else ""]
        return "+".join(p for p in parts if p) or "clean"


CLEAN = Distortion()

PEOPLE: tuple[Person, ...] = (
    Person("Nguyễn Văn An", date(1990, 3, 5), "001090012345", "0123456789"),
    Person("Trần Thị Bích Ngọc", date(1985, 12, 24), "079185004321", "7912345680",
           phone="0987654321", address="Ấp Phú Hòa, xã Đức Hòa Thượng, tỉnh Tây Ninh"),
    Person("Lê Hoàng Đức", date(2001, 7, 19), "038201998877", "3820119988",
           phone="0345678901", address="Thôn Yên Thái, xã Yên Định, tỉnh Thanh Hóa"),
    Person("Phạm Thị Thu Hương", date(1978, 1, 30), "031178000456", "3178004562",
           phone="0904111222", address="Tổ 5, phường Lê Chân, thành phố Hải Phòng"),
    Person("Đặng Quốc Vũ", date(1995, 10, 2), "048095007788", "4895007788",
           phone="0765432109", address="Khu phố 3, phường Hòa Khánh, thành phố Đà Nẵng"),
)


def _dmy(d: date) -> str:
    return d.strftime("%d/%m/%Y")


def _tk1_ts(p: Person) -> list[tuple[str, str]]:
    # (alignment, text): "c" centred, "l" left, "r" right; "" = blank line.
    return [
        ("l", "BẢO HIỂM XÃ HỘI VIỆT NAM"),
        ("r", "Mẫu TK1-TS"),
        ("c", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
        ("c", "Độc lập - Tự do - Hạnh phúc"),
        ("", ""),
        ("c", "TỜ KHAI"),
        ("c", "THAM GIA, ĐIỀU CHỈNH THÔNG TIN BẢO HIỂM XÃ HỘI, BẢO HIỂM Y TẾ"),
        ("", ""),
        ("l", "I. Áp dụng đối với người tham gia tra cứu không thấy mã số BHXH"),
        ("l", f"[01]. Họ và tên (viết chữ in hoa): {p.full_name.upper()}"),
        ("l", f"[02]. Ngày, tháng, năm sinh: {_dmy(p.date_of_birth)}      [03]. Giới tính: Nam"),
        ("l", "[04]. Quốc tịch: Việt Nam      [05]. Dân tộc: Kinh"),
        ("l", f"[06]. Nơi đăng ký khai sinh: {p.address}"),
        ("l", f"[07]. Số CCCD/ĐDCN/Hộ chiếu: {p.id_number}"),
        ("l", f"[08]. Số điện thoại liên hệ: {p.phone}"),
        ("l", f"[09]. Địa chỉ nhận kết quả: {p.address}"),
        ("", ""),
        ("l", "II. Áp dụng đối với người tham gia đã có mã số BHXH"),
        ("l", f"[10]. Mã số BHXH: {p.social_insurance_code}"),
        ("l", "[11]. Nội dung thay đổi, yêu cầu: cấp lại sổ BHXH do mất"),
        ("", ""),
        ("l", "Tôi cam đoan những nội dung kê khai là đúng và chịu trách nhiệm"),
        ("l", "trước pháp luật về những nội dung đã kê khai."),
        ("r", "Hà Nội, ngày 12 tháng 10 năm 2025"),
        ("r", "Người kê khai"),
        ("r", "(Ký, ghi rõ họ tên)"),
        ("", ""),
        ("r", p.full_name),
    ]


def _hsb_14(p: Person) -> list[tuple[str, str]]:
    return [
        ("r", "Mẫu số 14-HSB"),
        ("c", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"),
        ("c", "Độc lập - Tự do - Hạnh phúc"),
        ("", ""),
        ("c", "ĐƠN ĐỀ NGHỊ"),
        ("c", "HƯỞNG BẢO HIỂM XÃ HỘI MỘT LẦN"),
        ("", ""),
        ("c", "Kính gửi: Bảo hiểm xã hội quận Hoàn Kiếm"),
        ("", ""),
        ("l", f"Họ và tên: {p.full_name}"),
        ("l", f"Sinh ngày: {_dmy(p.date_of_birth)}          Giới tính: Nữ"),
        ("l", f"Mã số BHXH: {' '.join(p.social_insurance_code)}"),
        ("l", f"Số định danh cá nhân/CCCD: {p.id_number}"),
        ("l", f"Số điện thoại: {p.phone}"),
        ("l", f"Nơi cư trú: {p.address}"),
        ("", ""),
        ("l", "Tôi đề nghị được hưởng bảo hiểm xã hội một lần vì lý do: sau 12 tháng"),
        ("l", "không thuộc đối tượng tham gia BHXH bắt buộc, chưa đủ 20 năm đóng BHXH."),
        ("l", "Hình thức nhận: chuyển khoản, số tài khoản 0451000123456 tại Vietcombank."),
        ("", ""),
        ("r", "Hà Nội, ngày 03 tháng 11 năm 2025"),
        ("r", "Người đề nghị"),
        ("r", "(Ký, ghi rõ họ tên)"),
        ("", ""),
        ("r", p.full_name),
    ]


TEMPLATES = {"TK1-TS": _tk1_ts, "14-HSB": _hsb_14}


def render(form_code: str, person: Person, dpi: int = 300) -> Image.Image:
    """The form filled in for `person`, as a clean greyscale page of A4 at `dpi`."""
    lines = TEMPLATES[form_code](person)
    width, height = (round(mm / 25.4 * dpi) for mm in A4_MM)
    page = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(page)
    size = round(dpi * 11 / 72)  # 11 pt, a typed form
    regular = ImageFont.truetype(str(FONT_DIR / "DejaVuSerif.ttf"), size)
    bold = ImageFont.truetype(str(FONT_DIR / "DejaVuSerif-Bold.ttf"), size)
    margin, y = round(dpi * 20 / 25.4), round(dpi * 18 / 25.4)
    for align, text in lines:
        font = bold if align == "c" else regular
        if text:
            w = draw.textlength(text, font=font)
            x = {"l": margin, "c": (width - w) / 2, "r": width - margin - w}[align]
            draw.text((x, y), text, font=font, fill=0)
        y += round(size * 1.9)
    return page


def distort(page: Image.Image, how: Distortion) -> Image.Image:
    """`page` as a careless scan: noise, blur, then rotated on a white background."""
    if how == CLEAN:
        return page
    rng = random.Random(how.seed)
    img = page
    if how.blur:
        img = img.filter(ImageFilter.GaussianBlur(how.blur))
    if how.gaussian:
        # effect_noise is gaussian grey noise centred on 128: add it, minus 128, clipped.
        noise = Image.effect_noise(img.size, how.gaussian)
        img = ImageChops.add(img, noise, scale=1.0, offset=-128)
    if how.salt_pepper:
        px = img.load()
        assert px is not None
        w, h = img.size
        for _ in range(int(w * h * how.salt_pepper)):
            px[rng.randrange(w), rng.randrange(h)] = rng.choice((0, 255))
    if how.rotate:
        img = img.rotate(how.rotate, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=255)
    return img



# The scanner's mistakes the tests and the accuracy figure cover: quarter turns (page fed
# sideways or upside down), a few degrees of skew, grain, salt-and-pepper, blur.
DISTORTIONS: tuple[Distortion, ...] = (
    Distortion(rotate=90, seed=1),
    Distortion(rotate=180, gaussian=25, seed=2),
    Distortion(rotate=-3.5, gaussian=40, seed=3),
    Distortion(rotate=272, salt_pepper=0.02, seed=4),
    Distortion(rotate=2, blur=1.0, gaussian=20, seed=5),
    Distortion(salt_pepper=0.03, blur=0.7, seed=6),
)


@dataclass(frozen=True)
class Sample:
    form_code: str
    person: Person
    distortion: Distortion

    def image(self, dpi: int = 300) -> Image.Image:
        return distort(render(self.form_code, self.person, dpi), self.distortion)


def corpus(per_person: int = 2) -> list[Sample]:
    """Every form for every person, clean, plus `per_person` distortions each (cycling
    through DISTORTIONS so each distortion meets several people and both forms)."""
    samples: list[Sample] = []
    turn = 0
    for form_code in TEMPLATES:
        for person in PEOPLE:
            samples.append(Sample(form_code, person, CLEAN))
            for _ in range(per_person):
                samples.append(Sample(form_code, person, DISTORTIONS[turn % len(DISTORTIONS)]))
                turn += 1
    return samples

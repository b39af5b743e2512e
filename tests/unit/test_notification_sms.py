"""SMS length counted as the network counts it: GSM-7 septets (extension characters take
two) or UCS-2 units, 160/153 and 70/67 per segment; Vietnamese without diacritics."""

from __future__ import annotations

from services.notification import sms


def test_plain_ascii_is_gsm7_160_in_one_segment_153_a_part() -> None:
    assert sms.count("a" * 160) == sms.Segments("gsm7", 160, 1)
    assert sms.count("a" * 161).count == 2
    assert sms.count("a" * 306).count == 2
    assert sms.count("a" * 307).count == 3


def test_extension_characters_take_two_septets_and_are_never_split() -> None:
    assert sms.count("€" * 80) == sms.Segments("gsm7", 160, 1)
    assert sms.count("€" * 81).count == 2
    # 152 septets then a two-septet character: it cannot straddle the part boundary.
    assert sms.count("a" * 152 + "€" + "a" * 10).count == 2
    assert sms.count("a" * 152 + "€" + "a" * 152).count == 3


def test_vietnamese_with_diacritics_is_ucs2_70_then_67() -> None:
    text = "Hồ sơ đã được tiếp nhận"
    assert sms.encoding_of(text) == "ucs2"
    assert sms.count("ồ" * 70) == sms.Segments("ucs2", 70, 1)
    assert sms.count("ồ" * 71).count == 2
    assert sms.count("ồ" * 134).count == 2
    assert sms.count("ồ" * 135).count == 3
    # French-style accents that GSM-7 has (é, à) do not force UCS-2 by themselves.
    assert sms.encoding_of("é à ò") == "gsm7"


def test_characters_outside_the_bmp_count_two_units() -> None:
    assert sms.count("😀" * 35) == sms.Segments("ucs2", 70, 1)
    assert sms.count("😀" * 36).count == 2


def test_stripping_diacritics_makes_vietnamese_gsm7() -> None:
    bare = sms.strip_diacritics("Hồ sơ ĐÃ được tiếp nhận, hẹn trả kết quả ngày 05/12/2026")
    assert bare == "Ho so DA duoc tiep nhan, hen tra ket qua ngay 05/12/2026"
    assert sms.encoding_of(bare) == "gsm7"


def test_prepare_strips_joins_lines_and_cuts_to_the_limit_with_an_ellipsis() -> None:
    assert sms.prepare("Hồ sơ\n  đã nhận", diacritics=False, max_segments=1) == "Ho so da nhan"
    assert sms.prepare("Hồ sơ đã nhận", diacritics=True, max_segments=1) == "Hồ sơ đã nhận"
    long = "Tên thủ tục rất dài " * 40
    cut = sms.prepare(long, diacritics=False, max_segments=2)
    assert cut.endswith("...") and sms.count(cut).count == 2
    assert len(cut) > 300  # the longest prefix that fits, not a crude cut
    cut_ucs2 = sms.prepare(long, diacritics=True, max_segments=2)
    assert sms.count(cut_ucs2) == sms.Segments("ucs2", len(cut_ucs2), 2)
    assert len(cut_ucs2) > 120

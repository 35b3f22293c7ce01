"""Board text: transliteration to ASCII, fitting a line, and the Vietnamese messages (board and speech)."""

from __future__ import annotations

import unicodedata

import pytest

from edge.decision.reasons import Reason
from edge.ledboard.messages import (
    DENY_TEXT,
    decision_lines,
    queue_call_lines,
    queue_call_speech,
    queue_call_text,
    queue_lines,
    queue_speech,
    spoken_plate,
)
from edge.ledboard.translit import clean, fit_line, to_ascii, unshowable

#: Every Vietnamese letter with its marks (lower case), and what an ASCII board shows for it.
VN_LETTERS = {
    "a": "aàáảãạăằắẳẵặâầấẩẫậ", "e": "eèéẻẽẹêềếểễệ", "i": "iìíỉĩị", "o": "oòóỏõọôồốổỗộơờớởỡợ",
    "u": "uùúủũụưừứửữự", "y": "yỳýỷỹỵ", "d": "dđ",
}


def test_examples() -> None:
    assert to_ascii("MỜI XE SỐ 42 VÀO BÃI CHỜ XUẤT") == "MOI XE SO 42 VAO BAI CHO XUAT"
    assert to_ascii("Đồng Đăng – Lạng Sơn") == "Dong Dang - Lang Son"
    assert to_ascii("Hữu Nghị, Tà Lùng, Trà Lĩnh") == "Huu Nghi, Ta Lung, Tra Linh"


@pytest.mark.parametrize("base", sorted(VN_LETTERS))
def test_every_vietnamese_letter_has_its_ascii_base(base: str) -> None:
    for ch in VN_LETTERS[base]:
        assert to_ascii(ch) == base, ch
        assert to_ascii(ch.upper()) == base.upper(), ch.upper()
        # decomposed input (as some keyboards and OCR produce it) gives the same
        assert to_ascii(unicodedata.normalize("NFD", ch)) == base


def test_no_ascii_form_gives_the_fallback_and_is_reported() -> None:
    assert to_ascii("桂A12345") == "?A12345"
    assert to_ascii("云A12345", fallback="_") == "_A12345"
    assert unshowable("桂A12345 MỜI XE", "ascii") == ["桂"]
    assert unshowable("MỜI XE SỐ 42", "ascii") == []
    assert unshowable("桂A12345 MỜI", "unicode") == []  # BMP: the board has a cell for it
    assert unshowable("A\U0001F69A", "unicode") == ["\U0001F69A"]  # outside 16 bits


def test_clean_composes_and_drops_control_characters() -> None:
    assert clean("MO\u031B\u0300I") == "MỜI"  # NFD → one code point per letter
    assert clean("A\x02B\x03C\rD\tE") == "ABC D E"  # frame bytes never get into a line
    assert clean("X\u200bY") == "XY"  # zero-width space (format character)


def test_fit_line_cuts_between_characters_and_aligns() -> None:
    decomposed = unicodedata.normalize("NFD", "CHỜ XUẤT")
    assert fit_line(decomposed, 6) == "CHỜ XU"  # 6 letters, each whole, not 6 code points
    assert fit_line("SỐ 42", 9, "center") == "  SỐ 42  "
    assert fit_line("SỐ 42", 9, "left") == "SỐ 42    "
    assert fit_line("  VÀO   BÃI  ", 10) == "VÀO BÃI   "
    assert fit_line("MỜI XE SỐ 42 VÀO BÃI", 11, "center") == "MỜI XE SỐ 4"
    assert fit_line("AB CD", 3) == "AB "  # a cut at a space leaves no trailing space inside
    for n in range(4, 30):
        assert len(fit_line("KHÔNG ĐỌC RÕ BIỂN SỐ XE TẢI", n, "center")) == n


def test_every_board_line_fits_a_20_character_board() -> None:
    plates = ["29C12345", "29LD12345", "桂A12345", "云A1234X"]
    all_lines = [t for t in DENY_TEXT.values()]
    for plate in plates:
        all_lines += decision_lines(True, Reason.PERMIT_OK, plate) + queue_lines(9999, plate)
        all_lines += queue_call_lines(9999, plate, 1)
    for r in Reason:
        all_lines += decision_lines(False, r, "29C12345")
    too_long = [line for line in all_lines if len(line) > 20]
    assert not too_long


def test_queue_call_text_for_board_and_speech() -> None:
    assert queue_call_text(42, "29C12345", 1) == "Mời xe số 42, biển số 29C-123.45, vào barie số 1"
    assert queue_call_lines(42, "29C12345") == ["MỜI XE SỐ 42", "29C-123.45", "VÀO BARIE SỐ 1"]
    assert queue_call_speech(42, "29C12345", 1) == (
        "Mời xe số 42, biển số hai chín xê, một hai ba, bốn năm, vào barie số 1.")
    assert queue_speech(7, "29C12345") == "Xe biển số hai chín xê, một hai ba, bốn năm, nhận số 7, vào bãi chờ xuất."


def test_plates_are_spoken_character_by_character() -> None:
    assert spoken_plate("29C-123.45") == "hai chín xê, một hai ba, bốn năm"
    assert spoken_plate("29C 12345") == "hai chín xê, một hai ba bốn năm"  # two-row form, as written
    assert spoken_plate("51LD01234") == "năm một e lờ dê, không một hai, ba bốn"
    assert spoken_plate("30A9999") == "ba không a, chín chín chín chín"
    # Chinese plates: the province character as the province's Vietnamese name, then letter by letter
    assert spoken_plate("桂A12345") == "Quảng Tây, a một hai ba bốn năm"
    assert spoken_plate("云A1234X") == "Vân Nam, a một hai ba bốn ích"
    # no digit group is left for the voice to read as a number
    said_plate = queue_call_speech(42, "29C12345").split("biển số ")[1].split(", vào")[0]
    assert said_plate and not any(ch.isdigit() for ch in said_plate)

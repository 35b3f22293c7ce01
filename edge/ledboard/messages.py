"""What the LED board shows and the loudspeaker says (Vietnamese; boards show upper-case text).

Every board line fits a 20-character board (the smallest usual width, ``chars_per_line`` default).
"""

from __future__ import annotations

from edge.decision.reasons import Reason
from edge.plate.text import display_vn

DENY_TEXT = {
    Reason.INVALID_PLATE: "LỖI ĐỌC BIỂN SỐ",
    Reason.LOW_CONFIDENCE: "KHÔNG ĐỌC RÕ BIỂN SỐ",
    Reason.NO_PERMIT: "CHƯA KHAI BÁO",
    Reason.FUZZY_AMBIGUOUS: "CẦN KIỂM TRA BIỂN SỐ",
    Reason.FUZZY_LOW_CONFIDENCE: "CẦN KIỂM TRA BIỂN SỐ",
    Reason.NOT_YET_VALID: "CHƯA ĐẾN GIỜ",
    Reason.EXPIRED: "HẾT HIỆU LỰC",
    Reason.WRONG_DIRECTION: "SAI HƯỚNG",
    Reason.WRONG_FLOW: "SAI LUỒNG",
    Reason.ANTI_PASSBACK: "ĐÃ QUA CỔNG",
    Reason.PASSES_USED: "ĐÃ QUA CỔNG",
    Reason.WATCHLIST: "CHỜ KIỂM TRA",
    Reason.YARD_FULL: "BÃI ĐÃ ĐẦY - CHỜ",
    Reason.STORE_UNAVAILABLE: "LỖI HỆ THỐNG - CHỜ",
}


def decision_lines(allow: bool, reason: Reason, plate: str | None) -> list[str]:
    shown = display_vn(plate) if plate else "?"
    if allow:
        return [shown, "MỜI XE QUA"]
    return [shown, "DỪNG LẠI", DENY_TEXT.get(reason, "DỪNG LẠI")]


def queue_lines(number: int, plate: str) -> list[str]:
    return [f"SỐ {number}", display_vn(plate), "VÀO BÃI CHỜ XUẤT"]


# --- Queue calls at the export waiting yard (LED board + loudspeaker) -------------------------------

#: How a plate character is read aloud in Vietnamese (letter names as drivers and guards say them).
SPOKEN_CHAR = {
    "0": "không", "1": "một", "2": "hai", "3": "ba", "4": "bốn",
    "5": "năm", "6": "sáu", "7": "bảy", "8": "tám", "9": "chín",
    "A": "a", "B": "bê", "C": "xê", "D": "dê", "E": "e", "F": "ép", "G": "giê", "H": "hát",
    "I": "i", "J": "gi", "K": "ca", "L": "e lờ", "M": "em mờ", "N": "en nờ", "O": "o", "P": "pê",
    "Q": "quy", "R": "e rờ", "S": "ét", "T": "tê", "U": "u", "V": "vê", "W": "vê kép", "X": "ích",
    "Y": "i dài", "Z": "dét",
}

#: Chinese plate province characters, read as the province's Vietnamese name.
SPOKEN_CN_PROVINCE = {
    "京": "Bắc Kinh", "津": "Thiên Tân", "沪": "Thượng Hải", "渝": "Trùng Khánh", "冀": "Hà Bắc",
    "豫": "Hà Nam", "云": "Vân Nam", "辽": "Liêu Ninh", "黑": "Hắc Long Giang", "湘": "Hồ Nam",
    "皖": "An Huy", "鲁": "Sơn Đông", "新": "Tân Cương", "苏": "Giang Tô", "浙": "Chiết Giang",
    "赣": "Giang Tây", "鄂": "Hồ Bắc", "桂": "Quảng Tây", "甘": "Cam Túc", "晋": "Sơn Tây",
    "蒙": "Nội Mông", "陕": "Thiểm Tây", "吉": "Cát Lâm", "闽": "Phúc Kiến", "贵": "Quý Châu",
    "粤": "Quảng Đông", "青": "Thanh Hải", "藏": "Tây Tạng", "川": "Tứ Xuyên", "宁": "Ninh Hạ",
    "琼": "Hải Nam",
}


def board_plate(plate: str) -> str:
    """The plate as the board shows it: VN plates in their usual form (``29C-123.45``), others as read."""
    return display_vn(plate)


def spoken_plate(plate: str) -> str:
    """A plate read out character by character: ``29C-123.45`` → ``hai chín xê, một hai ba, bốn năm``.

    Groups (split at separators; a Chinese province character is its own group) are parted by commas
    so the voice pauses where a reader would. Characters with no spoken form are left out.
    """
    groups: list[list[str]] = [[]]
    for ch in display_vn(plate).upper():
        if ch in SPOKEN_CN_PROVINCE:
            groups.append([SPOKEN_CN_PROVINCE[ch]])
            groups.append([])
        elif ch in SPOKEN_CHAR:
            groups[-1].append(SPOKEN_CHAR[ch])
        else:  # separator (or anything unspeakable): a pause
            groups.append([])
    return ", ".join(" ".join(g) for g in groups if g)


def queue_call_text(number: int, plate: str, barrier: str | int = 1) -> str:
    """The call in one written sentence: ``Mời xe số 42, biển số 29C-123.45, vào barie số 1``."""
    return f"Mời xe số {number}, biển số {board_plate(plate)}, vào barie số {barrier}"


def queue_call_lines(number: int, plate: str, barrier: str | int = 1) -> list[str]:
    """The call on a three-line board: ``MỜI XE SỐ 42`` / ``29C-123.45`` / ``VÀO BARIE SỐ 1``."""
    return [f"MỜI XE SỐ {number}", board_plate(plate), f"VÀO BARIE SỐ {barrier}"]


def queue_call_speech(number: int, plate: str, barrier: str | int = 1) -> str:
    """The call for the loudspeaker, the plate spelt out so no digit group is read as a number."""
    return f"Mời xe số {number}, biển số {spoken_plate(plate)}, vào barie số {barrier}."


def queue_speech(number: int, plate: str) -> str:
    """What the loudspeaker says with :func:`queue_lines` (number given at the waiting-yard entry)."""
    return f"Xe biển số {spoken_plate(plate)}, nhận số {number}, vào bãi chờ xuất."

"""What the LED board says for each decision (Vietnamese first; boards show upper-case text)."""

from __future__ import annotations

from edge.decision.reasons import Reason
from edge.plate.text import display_vn

DENY_TEXT = {
    Reason.INVALID_PLATE: "KHÔNG ĐỌC ĐƯỢC BIỂN SỐ",
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
    Reason.WATCHLIST: "DỪNG LẠI - CHỜ KIỂM TRA",
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

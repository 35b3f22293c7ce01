"""The console's words, Vietnamese first, English on request (``?lang=en`` or the ``lang`` cookie).

One small catalogue: a missing key shows the key itself, so a gap is visible, never a crash. Step,
agency and yard names come from the site file (``name_vi``/``name_en``).
"""

from __future__ import annotations

from typing import Any

LANGS = ("vi", "en")
DEFAULT = "vi"

MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("Cửa khẩu số", "Digital border gate"),
    "skip": ("Bỏ qua đến nội dung", "Skip to content"),
    "login": ("Đăng nhập", "Log in"),
    "logout": ("Đăng xuất", "Log out"),
    "username": ("Tên đăng nhập", "Username"),
    "password": ("Mật khẩu", "Password"),
    "login_failed": ("Sai tên đăng nhập hoặc mật khẩu.", "Wrong username or password."),
    "throttled": ("Quá nhiều lần đăng nhập sai. Vui lòng thử lại sau {minutes} phút.",
                  "Too many failed logins. Try again in {minutes} minutes."),
    "session_expired": ("Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.", "Your session expired; please log in again."),
    "register": ("Đăng ký doanh nghiệp", "Register a company"),
    "register_hint": ("Tài khoản được xác nhận tự động.", "The account is confirmed automatically."),
    "company_name": ("Tên doanh nghiệp", "Company name"),
    "tax_code": ("Mã số thuế", "Tax code"),
    "display_name": ("Tên hiển thị", "Display name"),
    "password_hint": ("Ít nhất 10 ký tự", "At least 10 characters"),
    "taken": ("Mã số thuế hoặc tên đăng nhập đã được đăng ký.", "Tax code or username already registered."),
    "my_trips": ("Chuyến xe", "Trips"),
    "new_trip": ("Khai báo chuyến xe", "Declare a trip"),
    "plate": ("Biển số", "Plate"),
    "flow": ("Luồng", "Flow"),
    "export": ("Xuất khẩu", "Export"),
    "import": ("Nhập khẩu", "Import"),
    "goods": ("Hàng hóa", "Goods"),
    "driver_name": ("Tên lái xe", "Driver"),
    "driver_phone": ("Số điện thoại lái xe", "Driver's phone"),
    "driver_id_number": ("Số CCCD/hộ chiếu", "ID card number"),
    "registered_load_t": ("Tải trọng đăng ký (tấn)", "Registered load (t)"),
    "conditional_steps": ("Thủ tục áp dụng riêng cho chuyến này", "Procedures this trip needs"),
    "save": ("Lưu", "Save"),
    "declare": ("Khai báo", "Declare"),
    "edit": ("Sửa", "Correct"),
    "cancel_trip": ("Hủy chuyến", "Cancel trip"),
    "cancel_confirm": ("Hủy chuyến xe này?", "Cancel this trip?"),
    "status": ("Trạng thái", "Status"),
    "open": ("Đang mở", "Open"),
    "cancelled": ("Đã hủy", "Cancelled"),
    "completed": ("Hoàn thành", "Completed"),
    "created": ("Khai báo lúc", "Declared"),
    "valid_until": ("Hiệu lực đến", "Valid until"),
    "timeline": ("Hành trình", "Timeline"),
    "history": ("Lịch sử", "History"),
    "gate": ("Cổng", "Gate"),
    "passed_at": ("Qua cổng lúc", "Passed at"),
    "not_passed": ("Chưa qua", "Not yet"),
    "ready": ("Đủ điều kiện qua", "Cleared to pass"),
    "not_ready": ("Chờ xác nhận", "Waiting for confirmations"),
    "confirmed": ("Đã xác nhận", "Confirmed"),
    "refused": ("Từ chối", "Refused"),
    "waiting": ("Đang chờ", "Waiting"),
    "no_steps": ("Không cần xác nhận", "No confirmation needed"),
    "note": ("Ghi chú", "Note"),
    "yards": ("Sức chứa bãi", "Yard capacity"),
    "yard": ("Bãi", "Yard"),
    "capacity": ("Sức chứa", "Capacity"),
    "occupancy": ("Đang có", "Occupancy"),
    "free": ("Còn trống", "Free"),
    "worklist": ("Việc cần xử lý", "Worklist"),
    "step": ("Thủ tục", "Step"),
    "confirm": ("Xác nhận", "Confirm"),
    "refuse": ("Từ chối", "Refuse"),
    "nothing_waiting": ("Không có chuyến nào đang chờ.", "No trip is waiting."),
    "expected": ("Xe sắp đến", "Trucks expected"),
    "inside": ("Xe trong bãi", "Trucks inside"),
    "since": ("Từ", "Since"),
    "queue": ("Hàng chờ xuất khẩu", "Export queue"),
    "number": ("Số", "Number"),
    "called_at": ("Đã gọi lúc", "Called at"),
    "call_next": ("Gọi xe tiếp theo", "Call next"),
    "called": ("Đã gọi xe số {number}, biển số {plate}.", "Called number {number}, plate {plate}."),
    "queue_empty": ("Không còn xe chờ gọi.", "Nobody left to call."),
    "monitor": ("Giám sát cổng", "Gate monitor"),
    "online": ("Trực tuyến", "Online"),
    "offline": ("Mất kết nối", "Offline"),
    "never": ("Chưa kết nối", "Never seen"),
    "last_seen": ("Liên lạc lần cuối", "Last contact"),
    "since": ("từ", "since"),
    "status_mqtt": ("Trạng thái trực tuyến: theo kênh MQTT của từng cổng (báo mất kết nối ngay khi đường truyền đứt).",
                    "Online status: from each gate's MQTT live channel (offline as soon as its link dies)."),
    "status_mqtt_down": ("Mất kết nối MQTT: trực tuyến = có đồng bộ trong {minutes} phút qua.",
                         "MQTT link down: online = synced within the last {minutes} minutes."),
    "status_events": ("Trực tuyến = có đồng bộ trong {minutes} phút qua (dịch vụ chạy không có MQTT).",
                      "Online = synced within the last {minutes} minutes (service runs without MQTT)."),
    "by_sync": ("theo đồng bộ", "by sync"),
    "lag": ("Độ trễ đồng bộ", "Sync lag"),
    "barrier": ("Barie", "Barrier"),
    "last_reads": ("Lần đọc gần nhất", "Last reads"),
    "passages": ("Lượt qua", "Passages"),
    "decision": ("Quyết định", "Decision"),
    "reason": ("Lý do", "Reason"),
    "allow": ("Cho qua", "Allowed"),
    "deny": ("Chặn", "Denied"),
    "snapshot": ("Ảnh chụp", "Snapshot"),
    "time": ("Thời gian", "Time"),
    "type": ("Loại", "Type"),
    "any": ("Tất cả", "Any"),
    "events": ("Tra cứu sự kiện", "Event search"),
    "search": ("Tìm", "Search"),
    "until": ("Đến", "Until"),
    "csv": ("Tải CSV", "Download CSV"),
    "no_results": ("Không có kết quả.", "No results."),
    "stats": ("Thống kê", "Statistics"),
    "window_days": ("Số ngày", "Days"),
    "per_day": ("Lượt xe mỗi ngày (vào/ra)", "Trucks per day (in/out)"),
    "in": ("Vào", "In"),
    "out": ("Ra", "Out"),
    "step_hours": ("Thời gian trung bình từ khai báo đến xác nhận (giờ)", "Mean time from declaration to confirmation (hours)"),
    "clearance": ("Phân bố thời gian hoàn thành chuyến", "Trip completion time distribution"),
    "denials": ("Lượt bị chặn theo lý do", "Denials by reason"),
    "confidence": ("Độ tin cậy nhận dạng biển số", "Plate read confidence"),
    "admin": ("Quản trị", "Admin"),
    "accounts": ("Tài khoản", "Accounts"),
    "role": ("Vai trò", "Role"),
    "agency": ("Cơ quan", "Agency"),
    "active": ("Hoạt động", "Active"),
    "revoked": ("Đã thu hồi", "Revoked"),
    "revoke": ("Thu hồi", "Revoke"),
    "create": ("Tạo", "Create"),
    "new_account": ("Tạo tài khoản", "New account"),
    "gates": ("Cổng và mã thiết bị", "Gates and device tokens"),
    "issue_token": ("Cấp mã thiết bị mới", "Issue a new device token"),
    "token_once": ("Mã thiết bị của cổng {gate} (chỉ hiện một lần, các mã cũ đã bị thu hồi):",
                   "Device token of gate {gate} (shown once; earlier tokens are revoked):"),
    "registered": ("Đã đăng ký", "Registered"),
    "watchlist": ("Danh sách theo dõi", "Watchlist"),
    "add": ("Thêm", "Add"),
    "remove": ("Xóa", "Remove"),
    "forbidden": ("Bạn không có quyền truy cập trang này.", "You may not open this page."),
    "not_found": ("Không tìm thấy.", "Not found."),
    "bad_request": ("Yêu cầu không hợp lệ (mã CSRF).", "Bad request (CSRF token)."),
    "conflict": ("Không thể thực hiện: {detail}", "Not possible: {detail}"),
    "invalid": ("Dữ liệu chưa hợp lệ", "Please correct the form"),
    "home": ("Trang chủ", "Home"),
    "language": ("Ngôn ngữ", "Language"),
    "role_admin": ("Ban quản lý", "Management board"),
    "role_company": ("Doanh nghiệp", "Company"),
    "role_agency": ("Cơ quan chức năng", "Agency"),
    "role_yard_operator": ("Doanh nghiệp kho bãi", "Yard operator"),
    "saved": ("Đã lưu.", "Saved."),
    "updating": ("Tự động cập nhật", "Updating live"),
}

REASONS: dict[str, tuple[str, str]] = {
    "permit_ok": ("Đủ điều kiện", "Permit OK"),
    "operator_override": ("Cho qua thủ công", "Operator override"),
    "invalid_plate": ("Biển số không hợp lệ", "Invalid plate"),
    "low_confidence": ("Độ tin cậy thấp", "Low confidence"),
    "no_permit": ("Chưa đủ điều kiện", "No permit"),
    "fuzzy_ambiguous": ("Biển số nhập nhằng", "Ambiguous plate"),
    "fuzzy_low_confidence": ("Khớp gần đúng, tin cậy thấp", "Fuzzy match, low confidence"),
    "not_yet_valid": ("Chưa đến hiệu lực", "Not yet valid"),
    "expired": ("Hết hiệu lực", "Expired"),
    "wrong_direction": ("Sai chiều", "Wrong direction"),
    "wrong_flow": ("Sai luồng", "Wrong flow"),
    "anti_passback": ("Vừa qua cổng", "Anti-passback"),
    "passes_used": ("Đã dùng hết lượt", "Passes used"),
    "watchlist": ("Trong danh sách theo dõi", "Watchlist"),
    "yard_full": ("Bãi đầy", "Yard full"),
    "store_unavailable": ("Lỗi lưu trữ", "Store unavailable"),
}


def pick(lang: str | None) -> str:
    return lang if lang in LANGS else DEFAULT


class Translator:
    """``t("key", name=...)`` in templates; ``t.name(obj)`` for site objects with name_vi/name_en."""

    def __init__(self, lang: str):
        self.lang = pick(lang)
        self._i = LANGS.index(self.lang)

    def __call__(self, key: str, **kw: Any) -> str:
        pair = MESSAGES.get(key)
        text = pair[self._i] if pair else key
        return text.format(**kw) if kw else text

    def name(self, obj: Any) -> str:
        return str(getattr(obj, "name_en" if self.lang == "en" else "name_vi", None) or getattr(obj, "id", obj))

    def reason(self, code: str | None) -> str:
        pair = REASONS.get(code or "")
        return pair[self._i] if pair else (code or "")

"""The console in a real browser: Debian's Chromium, headless, driven by Playwright for Python.

A company registers and declares an export trip, customs and the border guard each confirm their step at
barrier No. 1 from their worklists, the gate's permit pull holds the trip, the gate reports the truck
(read with snapshot, barrier, passage) through the gate API, and the central office's monitor, open all
the while, shows the passage and its snapshot without a reload. Screenshots of each main page are kept
under var/screenshots/ (git-ignored) as artefacts.

The browser comes from the system (``.ci/run`` installs the ``chromium`` package); Playwright's own
browser download is never used. Without Chromium this test fails in CI and is skipped elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.cloudsvc import PASSWORD, CloudService, random_plate
from tests.conftest import REPO, service_missing
from tests.console_helpers import gate_event, push_events

CHROMIUM = os.environ.get("CONSOLE_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = REPO / "var" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        service_missing(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudService]:
    service = CloudService(tmp_path_factory.mktemp("browser"))
    yield service
    service.close()


def snapshot_jpeg(plate: str) -> bytes:
    """A decodable snapshot with the plate drawn on it (what a gate's camera would keep)."""
    img = np.full((90, 160, 3), 235, np.uint8)
    cv2.rectangle(img, (10, 30), (150, 62), (20, 20, 20), 2)
    cv2.putText(img, plate, (16, 54), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (10, 10, 10), 2)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def label(text: str) -> re.Pattern[str]:
    """A field's accessible name: its label, with the required-field mark if any, and nothing else."""
    return re.compile(rf"^{re.escape(text)}( \*)?$")


class Actor:
    """One person's browser context (own cookies), with screenshots named after the page."""

    def __init__(self, browser, svc: CloudService, name: str, *, phone: bool = False):  # type: ignore[no-untyped-def]
        viewport = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
        self.ctx = browser.new_context(viewport=viewport, locale="vi-VN")
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(10_000)
        self.svc, self.name = svc, name
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def go(self, path: str) -> None:
        self.page.goto(self.svc.url + path)

    def shot(self, label: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{self.name}-{label}.png"), full_page=True)

    def login(self, username: str) -> None:
        """By keyboard only: type, Tab to the next field, Enter submits."""
        self.go("/login")
        self.page.get_by_label(label("Tên đăng nhập")).fill(username)
        self.page.keyboard.press("Tab")
        self.page.keyboard.type(PASSWORD)
        self.page.keyboard.press("Enter")
        self.page.wait_for_url(re.compile(r"^(?!.*/login).*$"))

    def fits_width(self) -> bool:
        return bool(self.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def test_declare_confirm_pass_and_watch_it_on_the_monitor(browser, svc: CloudService) -> None:  # type: ignore[no-untyped-def]
    # -- the central office opens the monitor first and keeps it open
    office = Actor(browser, svc, "office")
    office.login("admin")
    office.go("/monitor")
    office.page.wait_for_selector("#gate-barrier1_out")
    office.shot("monitor-before")

    # -- a company registers (on a phone) and declares the trip
    company = Actor(browser, svc, "company", phone=True)
    company.go("/register")
    page = company.page
    page.get_by_label(label("Tên doanh nghiệp")).fill("Công ty CP Xuất nhập khẩu Kim Thành")
    page.get_by_label(label("Mã số thuế")).fill("0312345678")
    page.get_by_label(label("Tên hiển thị")).fill("XNK Kim Thành")
    page.get_by_label(label("Tên đăng nhập")).fill("xnk.kimthanh")
    page.get_by_label(label("Mật khẩu")).fill(PASSWORD)
    company.shot("register")
    page.get_by_role("button", name="Đăng ký doanh nghiệp").click()
    page.wait_for_url("**/trips")
    page.get_by_role("link", name="Khai báo chuyến xe").first.click()
    plate = random_plate()
    page.get_by_label(label("Biển số")).fill(plate)
    page.get_by_role("radio", name="Xuất khẩu").check()
    page.get_by_label(label("Hàng hóa")).fill("Thanh long ruột đỏ")
    page.get_by_label(label("Tên lái xe")).fill("Lê Văn C")
    page.get_by_label(label("Số điện thoại lái xe")).fill("0987654321")
    page.get_by_label(label("Số CCCD/hộ chiếu")).fill("001099012345")
    page.get_by_label(label("Tải trọng đăng ký (tấn)")).fill("20")
    assert company.fits_width()
    company.shot("declare")
    page.get_by_role("button", name="Khai báo").click()
    page.wait_for_url(re.compile(r"/trips/[0-9a-f-]{36}$"))
    trip_id = page.url.rsplit("/", 1)[1]
    assert page.get_by_text("Thanh long ruột đỏ").is_visible()
    assert company.fits_width()
    company.shot("trip-declared")

    # -- customs and the border guard confirm barrier No. 1's steps from their worklists
    for agency, step, short in (("customs", "customs_export_eligible", "cust"),
                                ("border_guard", "border_exit_check", "bp")):
        username = f"{short}.officer"
        svc.http(svc.admin, "POST", "/api/v1/admin/accounts", 201, json={
            "username": username, "password": PASSWORD, "role": "agency", "display_name": username,
            "agency": agency})
        officer = Actor(browser, svc, agency)
        officer.login(username)
        officer.go(f"/work?step={step}")
        card = officer.page.locator("li.card", has_text=plate)
        card.get_by_label(label("Ghi chú")).fill("Đã kiểm tra")
        officer.shot("worklist")
        card.get_by_role("button", name="Xác nhận").click()
        officer.page.wait_for_url(f"**/work?step={step}")
        assert officer.page.locator("li.card", has_text=plate).count() == 0
        assert not officer.errors
        officer.ctx.close()

    company.go(f"/trips/{trip_id}")
    leg = page.locator("ol.timeline > li", has_text="Barie số 1 – nơi giải quyết thủ tục xuất cảnh")
    assert "Đủ điều kiện qua" in leg.inner_text()
    company.shot("trip-cleared")

    # -- the management board issues barrier No. 1's device token in the console; the gate pulls its permit
    office_admin = Actor(browser, svc, "admin")
    office_admin.login("admin")
    office_admin.go("/admin/gates")
    office_admin.page.get_by_role("button", name="Cấp mã thiết bị mới barrier1_out").click()
    token = office_admin.page.locator("#new-token").inner_text().strip()
    office_admin.shot("gates")
    permits = svc.http(token, "GET", "/api/v1/gate/permits")
    assert [p["plate"] for p in permits["upserts"] if p["trip_id"] == trip_id] == [plate.replace("-", "")]

    # -- the truck arrives: read with snapshot, barrier opens, passage (as the gate box reports them)
    jpeg = snapshot_jpeg(plate)
    sha = hashlib.sha256(jpeg).hexdigest()
    svc.http(token, "PUT", f"/api/v1/gate/snapshots/{sha}", 204, data=jpeg)
    permit_id = f"{trip_id}:barrier1_out"
    push_events(svc, token, [
        gate_event(1, "decision", plate, reason="permit_ok", snapshot=sha,
                   payload={"allow": True, "confidence": 0.97, "permit_id": permit_id, "trip_id": trip_id}),
        gate_event(2, "barrier", plate, reason="opened"),
        gate_event(3, "passage", plate, payload={"permit_id": permit_id, "trip_id": trip_id}),
        gate_event(4, "barrier", plate, reason="closed"),
    ])

    # -- the monitor, never reloaded, shows the passage with its snapshot
    card = office.page.locator("#gate-barrier1_out")
    card.locator("ul.passages", has_text=plate).wait_for(timeout=15_000)
    img = card.locator(f'img[src="/snapshots/{sha}"]')
    img.wait_for()
    office.page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    assert "Trực tuyến" in card.inner_text() and "closed" in card.inner_text()
    assert office.page.evaluate("performance.getEntriesByType('navigation').length") == 1  # no reload
    office.shot("monitor-after")
    assert not office.errors

    # -- the company sees the passage on the timeline; the office finds it by plate and in the statistics
    company.go(f"/trips/{trip_id}")
    assert "Qua cổng lúc" in page.locator("ol.timeline > li", has_text="Barie số 1 – nơi giải quyết thủ tục xuất cảnh").inner_text()
    company.shot("trip-passed")
    company.go("/yards")
    company.shot("yards")
    office_admin.go(f"/events?plate={plate}")
    assert office_admin.page.locator("tbody tr").count() == 4
    office_admin.shot("events")
    office_admin.go("/stats?days=7")
    assert office_admin.page.locator("figure svg").count() == 5
    office_admin.shot("stats")
    for path, name in (("/admin/accounts", "accounts"), ("/admin/watchlist", "watchlist"), ("/queue", "queue")):
        office_admin.go(path)
        office_admin.shot(name)
    office_admin.go("/monitor?lang=en")
    assert office_admin.page.get_by_role("heading", name="Gate monitor").is_visible()
    for actor in (office, company, office_admin):
        assert not actor.errors
        actor.ctx.close()
    assert len(list(SHOTS.glob("*.png"))) >= 14


def test_keyboard_reaches_the_skip_link_and_focus_is_visible(browser, svc: CloudService) -> None:  # type: ignore[no-untyped-def]
    a = Actor(browser, svc, "anon")
    a.go("/login")
    a.page.keyboard.press("Tab")
    focused = a.page.evaluate("document.activeElement.className")
    assert focused == "skip"
    outline = a.page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"
    a.page.keyboard.press("Enter")
    assert a.page.evaluate("document.activeElement.id") == "main"
    a.shot("login")
    a.ctx.close()

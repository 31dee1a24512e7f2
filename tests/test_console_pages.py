"""The console in Debian's Chromium, as store IT uses it; a screenshot of every page.

The first test runs the real daemon (`storeedge run`) and reads the setup code where store IT
would; the second runs it in-process so it can be handed dead letters and face consents
through their interfaces, and checks what a supervisor can and cannot see.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from drivers.sim_scanner import send_scan
from edge.audit import recent_audit
from edge.seed import gtin13
from tests.browser import (
    FAST_HASHING,
    PageWatch,
    console_url,
    running_edge,
    screenshot,
    setup_code,
)
from tests.console_parts import FACE_ON, consent, dead_lettered_sales
from tests.helpers import MEMBER_CODE, MILK, Daemon, write_config

EVIL = "<img src=x onerror=alert(1)><script>alert(2)</script>"


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(write_config(tmp_path), tmp_path / "state").start()
    yield d
    if d.proc is not None and d.proc.poll() is None:
        d.signal(signal.SIGTERM)


async def ready(page: Page) -> None:
    await page.wait_for_selector("body[data-ready='yes']")


async def nav(page: Page, slug: str) -> None:
    await page.click(f"header nav a[href='/console/{slug}']")
    await page.wait_for_url(f"**/console/{slug}")
    await ready(page)


async def scan(daemon: Daemon, socket_path: Path, code: str) -> dict[str, Any]:
    """Scan through the simulated scanner; return the lane once it has handled the scan."""
    answer = await asyncio.wait_for(send_scan(socket_path, code), 10)
    assert answer.startswith("OK "), answer
    scan_id = answer.split()[1]
    for _ in range(200):
        lane: dict[str, Any] = await asyncio.to_thread(daemon.get, "/api/lanes/1")
        if (lane.get("last_event") or {}).get("scan_id") == scan_id:
            return lane
        await asyncio.sleep(0.05)
    raise AssertionError(f"scan {code} was not handled")


def add_hostile_product(db: Path) -> str:
    code = gtin13("690666666666")
    conn = sqlite3.connect(db, timeout=10)
    conn.execute("INSERT INTO products (id, name, category, price_fen, updated_at)"
                 " VALUES ('EVIL', ?, '零食', 100, 'now')", (EVIL,))
    conn.execute("INSERT INTO barcodes VALUES (?, 'gtin', 'EVIL')", ("0" + code,))
    conn.commit()
    conn.close()
    return code


async def test_store_it_sets_up_signs_in_and_works_the_console(
    daemon: Daemon, chromium: Browser, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    url = console_url(state)
    context = await chromium.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    watch = PageWatch(page, expect_http_errors=True)

    # First run: the console asks for the code from the daemon's log, once.
    await page.goto(url + "/console")
    await page.wait_for_url("**/console/setup")
    await ready(page)
    await page.fill("input[name=code]", "AAAA-BBBB-CCCC")
    await page.fill("input[name=name]", "admin")
    await page.fill("input[name=password]", "一个足够长的密码")
    await page.fill("input[name=password2]", "一个足够长的密码")
    await page.click("#setup-form button[type=submit]")
    await page.wait_for_selector("#setup-error:has-text('设置码不正确')")
    await screenshot(page, "console-setup")
    code = setup_code(state)
    assert code in daemon.output()  # the log says it, for whoever is at the appliance
    await page.fill("input[name=code]", code)
    await page.click("#setup-form button[type=submit]")
    await page.wait_for_url("**/console/dashboard")
    await ready(page)
    await page.wait_for_selector("body[data-live='yes']")
    assert await page.locator("#today-sales").inner_text() == "0"

    # A cash sale at lane 1 reaches the dashboard without a reload.
    evil = add_hostile_product(state / "storeedge.db")
    for code in (MILK, MEMBER_CODE, evil):
        lane = await scan(daemon, state / "run" / "s1.sock", code)
    assert [line["name"] for line in lane["lines"]][-1] == EVIL
    status, sale = daemon.post("/api/lanes/1/cash", {"tendered_fen": 10000})
    assert status == 200
    # Playwright's locators, not wait_for_function: the pages' CSP forbids eval, also here.
    await expect(page.locator("#today-sales")).to_have_text("1")
    total = sale["total_fen"]
    assert await page.locator("#today-amount").inner_text() == f"¥{total // 100}.{total % 100:02d}"
    assert await page.locator("#today-digitisation").inner_text() == "100%"
    assert await page.locator("svg.chart rect.bar").count() == 24
    assert await page.locator("svg.chart rect.bar[data-sales='1']").count() == 1
    sync_state = await page.locator("#sync-state").inner_text()
    assert sync_state.startswith("离线") and "not paired" in sync_state
    await screenshot(page, "console-dashboard")

    await nav(page, "devices")
    await page.click("button[data-device='sim-1']")
    result = page.locator("tr[data-device='sim-1'] td[data-test-result='ok']")
    await result.wait_for()
    assert "正常：listening on" in await result.inner_text()
    await screenshot(page, "console-devices")

    await nav(page, "transactions")
    await page.click("#sales tbody tr button")
    await page.wait_for_selector("#sale-detail")
    names = await page.locator("#sale-lines tbody tr td:first-child").all_inner_texts()
    assert names == ["伊利纯牛奶 250ml×12", EVIL]  # the hostile name is text, and ran nothing
    assert await page.locator("#sale-tenders tbody tr td").first.inner_text() == "现金"
    await screenshot(page, "console-transactions")

    await nav(page, "users")
    await page.fill("#new-name", "li")
    await page.select_option("#new-role", "supervisor")
    await page.fill("#new-password", "li 的密码 2468")
    await page.fill("#new-pin", "2468")
    await page.click("#create-user button[type=submit]")
    row = page.locator("tr[data-user='li']")
    await row.wait_for()
    assert "主管" in await row.inner_text() and "已设置" in await row.inner_text()
    # Said once the list shows it, and the form is empty for the next user.
    assert await page.locator("#users-status").inner_text() == "已创建用户 li"
    assert await page.input_value("#new-name") == ""
    await screenshot(page, "console-users")

    await nav(page, "audit")
    await page.wait_for_selector("#audit")
    actions = await page.locator("#audit tbody tr td:nth-child(3)").all_inner_texts()
    for action in ("console.setup", "auth.login", "device.tested", "user.created"):
        assert action in actions, actions
    await page.fill("#audit-target", "user:li")
    await page.press("#audit-target", "Enter")
    await expect(page.locator("#audit tbody tr")).to_have_count(1)
    await screenshot(page, "console-audit")

    await nav(page, "logs")
    await page.wait_for_selector("#log:has-text('Console serving on')")
    unknown = gtin13("690999999999")  # a scan the lane refuses writes a line to the log
    await asyncio.to_thread(daemon.cli, "scan", unknown, "--lane", "1")
    await page.wait_for_selector(f"#log:has-text('no product with code 0{unknown}')")
    await screenshot(page, "console-logs")

    await nav(page, "config")
    config_text = await page.locator("#config").inner_text()
    assert '"store"' in config_text and "sim-1" in config_text
    await screenshot(page, "console-config")

    await nav(page, "diagnostics")
    assert "ok" in await page.locator("#integrity").inner_text()
    async with page.expect_download() as download_info:
        await page.click("#download")
    download = await download_info.value
    bundle = Path(await download.path())
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
    assert "database.json" in names and not any(n.endswith(".db") for n in names)
    await screenshot(page, "console-diagnostics")

    for slug, marker in (("dead-letters", "#dl-none"),
                         ("face-consents", "#face-not-configured")):
        await nav(page, slug)
        await page.wait_for_selector(marker)
        await screenshot(page, f"console-{slug}")
    await nav(page, "account")
    await screenshot(page, "console-account")

    # English, kept across pages; then sign out and a wrong password says so in English.
    await page.click("#lang-toggle")
    await page.wait_for_selector("header nav a[href='/console/dashboard']:has-text('Dashboard')")
    await nav(page, "dashboard")
    assert await page.locator("h1").inner_text() == "Dashboard"
    await page.wait_for_selector("#today-sales")
    await screenshot(page, "console-dashboard-en")
    await page.click("#logout")
    await page.wait_for_url("**/console/login")
    await ready(page)
    await page.fill("input[name=name]", "admin")
    await page.fill("input[name=password]", "not the password")
    await page.press("input[name=password]", "Enter")
    await page.wait_for_selector("#login-error:has-text('Wrong user name or password')")
    await screenshot(page, "console-login")
    watch.assert_clean()
    await context.close()


async def test_dead_letter_retry_face_data_delete_and_a_supervisors_view(
    tmp_path: Path, chromium: Browser
) -> None:
    config = write_config(tmp_path, console=FAST_HASHING, extra=FACE_ON)
    async with running_edge(config) as edge:
        events = await dead_lettered_sales(edge, 3)
        await consent(edge, "M0001", "store")
        await consent(edge, "M0002", "store", "chain")
        await edge.users.create("admin", "it_admin", "admin password", actor="test")
        await edge.users.create("li", "supervisor", "li password", actor="test")
        assert edge.console_url is not None
        context = await chromium.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        watch = PageWatch(page, expect_http_errors=True)
        await page.goto(edge.console_url + "/console/dead-letters")
        await page.wait_for_url("**/console/login?next=/console/dead-letters")
        await ready(page)
        await page.fill("input[name=name]", "admin")
        await page.fill("input[name=password]", "admin password")
        await page.press("input[name=password]", "Enter")
        await page.wait_for_url("**/console/dead-letters")  # back where they were going
        await ready(page)
        await page.wait_for_selector("#dead-letters")
        await screenshot(page, "console-dead-letters-list")
        await page.click(f"tr[data-event='{events[1]}'] button")
        await page.wait_for_selector(f"#dl-status:has-text('已重新排队：{events[1]}')")
        assert await page.locator("#dead-letters tbody tr").count() == 2
        await page.click("#retry-all")
        await page.wait_for_selector("#dl-status:has-text('已重新排队 2 个事件')")
        await screenshot(page, "console-dead-letters-retried")

        await nav(page, "face-consents")
        await page.click("tr[data-member='M0001'] button")
        dialog = page.locator("dialog.ask")
        await dialog.wait_for()
        assert "M0001" in await dialog.inner_text()
        await page.keyboard.press("Escape")  # cancelling deletes nothing
        await dialog.wait_for(state="detached")
        assert await page.locator("#consents tbody tr").count() == 3  # M0002: store + chain
        await page.click("tr[data-member='M0001'] button")
        await page.click("dialog.ask button[type=submit]")
        await page.wait_for_selector("#face-status:has-text('M0001')")
        assert await page.locator("#consents tbody tr").count() == 2
        await screenshot(page, "console-face-consents")
        await page.click("#logout")
        await page.wait_for_url("**/console/login")

        # A supervisor sees only what the role allows; a typed URL gets a friendly refusal.
        await ready(page)
        await page.fill("input[name=name]", "li")
        await page.fill("input[name=password]", "li password")
        await page.press("input[name=password]", "Enter")
        await page.wait_for_url("**/console/dashboard")
        links = await page.locator("header nav a").all_inner_texts()
        assert links == ["概览", "设备", "交易与小票", "导购业绩", "自助收银", "我的账户"]
        response = await page.goto(edge.console_url + "/console/users")
        assert response is not None and response.status == 403
        assert await page.locator("h1").inner_text() == "没有权限"
        await screenshot(page, "console-forbidden")
        watch.assert_clean()
        await context.close()
        audit = [e.action for e in await recent_audit(edge.store, limit=10)]
        assert "face.data_deleted" in audit and "sync.dead_letter_retried" in audit


def damage_table(db: Path, table: str) -> None:
    """Scribble over one table's root page, as a failing disk would."""
    conn = sqlite3.connect(db)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    raw = bytearray(db.read_bytes())
    offset = (root[0] - 1) * page_size
    raw[offset: offset + 300] = b"\xff" * 300
    db.write_bytes(bytes(raw))


async def test_in_safe_mode_store_it_can_still_sign_in_and_sees_why(
    tmp_path: Path, chromium: Browser
) -> None:
    config = write_config(tmp_path, console=FAST_HASHING)
    async with running_edge(config) as edge:
        await edge.users.create("admin", "it_admin", "admin password", actor="test")
    damage_table(tmp_path / "state" / "storeedge.db", "counters")
    async with running_edge(config) as edge:
        assert edge.store.safe_mode and edge.console_url is not None
        context = await chromium.new_context(viewport={"width": 1280, "height": 900})
        page = await context.new_page()
        watch = PageWatch(page)
        await page.goto(edge.console_url + "/console/login")
        await ready(page)
        await page.fill("input[name=name]", "admin")
        await page.fill("input[name=password]", "admin password")
        await page.press("input[name=password]", "Enter")
        await page.wait_for_url("**/console/dashboard")
        banner = page.locator("#banner")
        await expect(banner).to_be_visible()
        assert "安全模式" in await banner.inner_text()
        await screenshot(page, "console-safe-mode")
        await nav(page, "diagnostics")
        assert "ok" not in await page.locator("#integrity").inner_text()
        watch.assert_clean()
        await context.close()

"""The kiosk's face consent screen in Chromium, against `storeedge run` with face enabled.

The kiosk camera is a video file made from a corpus photo (the stand-in for a camera this
machine lacks): the consent is given on the screen, the enrolment takes its pictures from
that camera through the daemon, and the withdrawal deletes them.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import cv2
from playwright.async_api import Browser, expect

from tests.browser import screenshot
from tests.face_clips import ENROL
from tests.helpers import MEMBER_CODE, WATER, Daemon
from tests.kiosk_support import kiosk_daemon, kiosk_page, scan

FACE = """
[face]
enabled = true
cameras = ["cam-1"]
gallery_refresh_ms = 100

[[devices]]
id = "cam-1"
driver = "camera"
lane = "1"
[devices.options]
source = "{video}"
decode_codes = false
"""


def still_video(photo: Path, out: Path, frames: int = 30) -> Path:
    """Write a short looping video of one photo: what a kiosk camera sees of a still face."""
    image = cv2.imread(str(photo))
    assert image is not None, photo
    height, width = image.shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter.fourcc(*"MJPG"), 10, (width, height))
    try:
        for _ in range(frames):
            writer.write(image)
    finally:
        writer.release()
    return out


def consents(daemon: Daemon) -> list[tuple[str, str, str, str | None]]:
    conn = sqlite3.connect(daemon.state_dir / "storeedge.db")
    try:
        return conn.execute("SELECT member_id, scope, lane, withdrawn_at FROM face_consents"
                            " ORDER BY given_at, rowid").fetchall()
    finally:
        conn.close()


def templates(daemon: Daemon) -> int:
    conn = sqlite3.connect(daemon.state_dir / "storeedge.db")
    try:
        return int(conn.execute("SELECT count(*) FROM face_templates").fetchone()[0])
    finally:
        conn.close()


async def test_consent_on_the_screen_then_enrolment_from_the_camera_then_withdrawal(
        tmp_path: Path, corpus: Path, chromium: Browser) -> None:
    video = still_video(corpus / ENROL["M-OBAMA"], tmp_path / "camera.avi")
    with kiosk_daemon(tmp_path, extra=FACE.format(video=video)) as daemon:
        async with kiosk_page(chromium, daemon) as (page, _watch):
            face_button = page.locator("#cart-screen [data-action=face]")
            await scan(daemon, page, WATER)
            await expect(face_button).to_be_hidden()          # only for an identified member
            await scan(daemon, page, MEMBER_CODE)
            await face_button.click()
            screen = page.locator("#consent-screen")
            await expect(screen).to_have_attribute("data-step", "store")
            await expect(page.locator("#consent-title")).to_have_text("刷脸识别会员（本店）")
            await expect(page.locator("#consent-text")).to_contain_text("不保存照片或视频")
            await screenshot(page, "kiosk-face-consent")
            assert consents(daemon) == []                      # reading is not consenting

            await screen.locator("[data-action=consent_yes]").click()
            await expect(screen).to_have_attribute("data-step", "chain")
            await expect(page.locator("#consent-title")).to_have_text("刷脸识别会员（全部门店）")
            assert consents(daemon) == [("M0001", "store", "1", None)]

            await screen.locator("[data-action=consent_enrol]").click()  # store only
            status = page.locator("#consent-status")
            await expect(status).to_have_text("刷脸识别已开通", timeout=60_000)
            assert templates(daemon) >= 1
            assert [c[1] for c in consents(daemon)] == ["store"]

            await screen.locator("[data-action=consent_withdraw]").click()
            await expect(status).to_have_text("已撤回同意，您的面部数据已删除")
            assert templates(daemon) == 0
            assert consents(daemon)[0][3] is not None
            await screen.locator("[data-action=consent_no]").click()
            await expect(page.locator("body")).to_have_attribute("data-screen", "cart")


async def test_without_face_the_kiosk_offers_no_face_button(
        tmp_path: Path, chromium: Browser) -> None:
    with kiosk_daemon(tmp_path) as daemon:
        async with kiosk_page(chromium, daemon) as (page, _watch):
            await scan(daemon, page, MEMBER_CODE)
            await expect(page.locator("#member")).to_contain_text("张*")
            await expect(page.locator("[data-action=face]")).to_be_hidden()
            status, answer = daemon.post("/api/lanes/1/face/consent",
                                         {"version": "2025-06-v1", "scope": "store"})
            assert (status, answer["code"]) == (409, "face_off")

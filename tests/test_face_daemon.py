"""Face recognition inside the daemon: workers, the kiosk lane's greeting, and failure modes."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import numpy as np
import pytest

from edge.app import EdgeApp
from edge.catalog import Catalog
from edge.config import load_config
from edge.face.engine import Job, read_photo
from edge.face.greeting import lane_greeter
from edge.face.pool import ProcessAnalyzer
from edge.face.service import Recognition
from edge.face.types import FaceError
from edge.scan_router import route
from edge.seed import seed_demo
from edge.store import Store
from tests.face_clips import ENROL, clip_frames, engine
from tests.helpers import MEMBER_CODE, Daemon, make_lane, write_config

FACE = """
[face]
enabled = true
gallery_refresh_ms = 100
idle_interval_ms = 0
max_frame_age_ms = 0
"""


def wait_for(predicate: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def metrics(daemon: Daemon) -> str:
    with urllib.request.urlopen(daemon.url + "/metrics", timeout=10) as response:
        return str(response.read().decode())


def test_the_daemon_runs_the_workers_and_picks_up_a_cli_enrolment(
        tmp_path: Path, corpus: Path) -> None:
    daemon = Daemon(write_config(tmp_path, extra=FACE), tmp_path / "state").start()
    try:
        wait_for(lambda: "Face workers ready" in daemon.output(), "the face workers")
        assert "encoder: numpy" in daemon.output()
        assert "storeedge_face_templates 0.0" in metrics(daemon)
        enrolled = daemon.cli("face", "enroll", "--member", "M0001",
                              str(corpus / ENROL["M-OBAMA"]), "--consent-recorded-by", "王店长")
        assert enrolled.returncode == 0, enrolled.stderr
        wait_for(lambda: "storeedge_face_templates 1.0" in metrics(daemon), "the new template")
        assert daemon.get("/api/status")["safe_mode"] is False
    finally:
        assert daemon.signal(signal.SIGTERM) == 0
    assert "Traceback" not in daemon.output()


def test_without_pkg_resources_the_daemon_runs_on_with_face_off(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shadow = tmp_path / "without" / "pkg_resources"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("No module named pkg_resources")\n')
    monkeypatch.setenv("PYTHONPATH", str(shadow.parent))
    daemon = Daemon(write_config(tmp_path, extra=FACE), tmp_path / "state").start()
    try:
        wait_for(lambda: "Face recognition is off" in daemon.output(), "the face verdict")
        assert "pkg_resources" in daemon.output()
        result = daemon.cli("scan", MEMBER_CODE, "--lane", "1")  # the store still sells
        assert result.returncode == 0, result.stderr
    finally:
        assert daemon.signal(signal.SIGTERM) == 0


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[EdgeApp]:
    app = EdgeApp(load_config(write_config(tmp_path, extra=FACE)))
    await app.start()
    yield app
    await app.stop()


async def test_a_member_recognised_at_the_kiosk_is_put_on_its_cart(
        app: EdgeApp, corpus: Path) -> None:
    face = app.face
    assert face is not None, "face recognition did not start"
    await face.record_consent("M0002", face.texts.current, "store", lane="1", actor="kiosk:1")
    await face.enroll("M0002", [read_photo(corpus / ENROL["M-LIN"])], actor="kiosk:1",
                      source="kiosk:1")
    greet = lane_greeter(app.lanes, app.catalog)
    await face.watch("cam-test", "1", clip_frames(corpus, list(range(82, 215))), greet)
    lane = app.lanes["1"].snapshot()
    member = lane["member"]
    assert {k: member[k] for k in ("id", "name", "tier", "identified_by")} == {
        "id": "M0002", "name": "王芳", "tier": "standard", "identified_by": "face"}
    # A face alone never spends: the kiosk asks for the phone's last 4 digits first.
    assert (member["can_spend"], member["needs"]) == (False, "phone_last4")
    assert lane["last_event"]["code"] == "member_identified"
    assert lane["last_event"]["data"]["identified_by"] == "face"
    assert 'storeedge_face_greetings_total{lane="1"} 1.0' in app.metrics.render().decode()


async def test_the_greeting_leaves_a_member_already_on_the_cart(tmp_path: Path) -> None:
    store = Store(tmp_path / "edge.db", checkpoint_interval_s=0)
    await store.open()
    try:
        await store.write(seed_demo)
        scanned, empty = make_lane(store, "1"), make_lane(store, "2")
        await scanned.handle_scan(route(MEMBER_CODE, load_config(None).scan))
        greet = lane_greeter({"1": scanned, "2": empty}, Catalog(store))
        for lane in ("1", "2"):
            await greet(Recognition("cam", lane, "M0002", None, time.time()))
        assert scanned.cart.member is not None
        assert (scanned.cart.member.id, scanned.cart.member.identified_by) == ("M0001", "code")
        assert empty.cart.member is not None
        assert (empty.cart.member.id, empty.cart.member.identified_by) == ("M0002", "face")
    finally:
        await store.close()


async def test_a_worker_that_dies_is_replaced(corpus: Path) -> None:
    analyzer = ProcessAnalyzer(detector="hog", workers=1, job_timeout_s=60, start_timeout_s=120)
    await analyzer.start()
    try:
        # The worker encodes on numpy, having freed dlib's copy of the network, and gives the
        # encoding plain face_recognition gives.
        assert analyzer.encoder.startswith("numpy"), analyzer.encoder
        photo = read_photo(corpus / ENROL["M-OBAMA"])
        job = Job(1, None)
        analysis = await analyzer.analyse(photo, job)
        assert analysis.encoding is not None and analysis.dominant is not None
        box = analysis.boxes[analysis.dominant]
        plain = engine()._fr.face_encodings(photo, [(box.top, box.right, box.bottom, box.left)])
        assert float(np.abs(analysis.encoding - plain[0]).max()) < 1e-4
        (first,) = analyzer.pids
        # A picture the engine cannot take is an error for that job, not a dead worker.
        with pytest.raises(FaceError, match="8-bit 3-channel"):
            await analyzer.analyse(photo[:, :, 0], job)
        with pytest.raises(FaceError, match="AttributeError"):
            await analyzer.analyse(photo, cast(Job, "not a job"))
        assert analyzer.pids == [first] and analyzer.restarts == 0
        os.kill(first, signal.SIGKILL)
        with pytest.raises(FaceError, match="worker died"):
            await analyzer.analyse(photo, job)
        assert (await analyzer.analyse(photo, job)).encoding is not None
        assert analyzer.pids != [first] and analyzer.restarts == 1
    finally:
        await analyzer.stop()

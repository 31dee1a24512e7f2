"""What only the self-checkout page calls: forgetting the member, the receipt's QR, face consent.

    POST /api/lanes/{lane}/member/clear                   {}  the shopper leaves (idle)
    GET  /api/lanes/{lane}/last-sale/receipt-qr.svg       the e-receipt (电子发票) QR
    POST /api/lanes/{lane}/face/consent   {"version", "scope"}   store first, chain second
    POST /api/lanes/{lane}/face/enrol     {}  frames from the lane's face camera
    POST /api/lanes/{lane}/face/withdraw  {}  consent withdrawn, templates deleted

Face endpoints act only for the member identified at the lane right now (never a member id
from the body), and only when face recognition runs; otherwise they answer 409 with why.
Every answer is ``{"result", "ok", "message", "data"}`` with the words in both languages.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .cashier_api import edge_of, event_json, lane_of
from .errors import ApiError
from .loyalty_api import qr_svg
from .schema import Str, read_json
from .site_access import Access, SiteRoute

if TYPE_CHECKING:
    from edge.app import EdgeApp
    from edge.face.service import FaceService
    from edge.face.types import Image
    from edge.lane import LaneSession

_LOGGER = logging.getLogger(__name__)
CONSENT = {"version": Str(64, pattern=r"[A-Za-z0-9._-]+"), "scope": Str(5, pattern=r"store|chain")}
ENROL_FRAMES = 3        # pictures per enrolment from the camera
FRAME_GAP_S = 0.3       # apart, so they are not the same picture three times
CAMERA_TIMEOUT_S = 10.0

# result -> (zh, en): what the kiosk shows for each face answer.
WORDS: dict[str, tuple[str, str]] = {
    "consent_recorded": ("已记录您的同意", "Your consent is recorded"),
    "face_enrolled": ("刷脸识别已开通", "Face recognition is set up"),
    "enrol_refused": ("未能采集清晰的正脸，请正对摄像头后重试",
                      "No clear frontal face was captured: look at the camera and try again"),
    "no_camera": ("本机没有可用的摄像头，请到服务台办理",
                  "This kiosk has no working camera: please ask at the service desk"),
    "consent_withdrawn": ("已撤回同意，您的面部数据已删除",
                          "Consent withdrawn: your face data is deleted"),
}


def kiosk_api_routes() -> list[SiteRoute]:
    """Return the kiosk page's own endpoints for the site's route table."""
    base = "/api/lanes/{lane}"
    return [
        SiteRoute("POST", f"{base}/member/clear", api_member_clear, Access.SHOPPER),
        SiteRoute("GET", f"{base}/last-sale/receipt-qr.svg", api_receipt_qr, Access.SHOPPER),
        SiteRoute("POST", f"{base}/face/consent", api_face_consent, Access.SHOPPER),
        SiteRoute("POST", f"{base}/face/enrol", api_face_enrol, Access.SHOPPER),
        SiteRoute("POST", f"{base}/face/withdraw", api_face_withdraw, Access.SHOPPER),
    ]


def _answer(result: str, ok: bool = True, **data: Any) -> web.Response:
    zh, en = WORDS[result]
    return web.json_response({"result": result, "ok": ok, "message": f"{zh} / {en}",
                              "data": {**data, "zh": zh, "en": en}})


async def api_member_clear(request: web.Request) -> web.Response:
    """Forget the member of an empty cart, so the next shopper does not inherit them."""
    edge_of(request).require_writable()
    await read_json(request, {})
    lane = lane_of(request)
    if lane.cart.member is None:
        raise ApiError(409, "no member at this lane", "no_member")
    return web.json_response(event_json(await lane.set_member(None)))


async def api_receipt_qr(request: web.Request) -> web.Response:
    """The e-receipt QR of the lane's last sale, drawn here as SVG (no script in the page)."""
    last_sale = lane_of(request).snapshot().get("last_sale") or {}
    payload = last_sale.get("receipt_qr")
    if not isinstance(payload, str) or not payload:
        raise ApiError(404, "the last sale has no e-receipt", "no_receipt")
    return web.Response(body=qr_svg(payload), content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})


def _face(edge: EdgeApp) -> FaceService:
    if edge.face is None or not edge.config.kiosk.show_face:
        raise ApiError(409, "face recognition is not on at this kiosk", "face_off")
    return edge.face


def _member_id(lane: LaneSession) -> str:
    member = lane.cart.member
    if member is None:
        raise ApiError(409, "identify as a member first (member code or phone)", "no_member")
    return member.id


async def api_face_consent(request: web.Request) -> web.Response:
    """Record the consent on screen: "store" first; "chain" only as a second, separate one."""
    from edge.face.types import FaceError  # noqa: PLC0415 - face is optional

    edge, lane = edge_of(request), lane_of(request)
    edge.require_writable()
    face = _face(edge)
    body = await read_json(request, CONSENT)
    member_id = _member_id(lane)
    language = "en" if request.cookies.get("lang") == "en" else "zh-CN"
    try:
        record = await face.record_consent(member_id, body["version"], body["scope"],
                                           lane=lane.lane_id, actor=f"kiosk:{lane.lane_id}",
                                           language=language)
    except FaceError as err:
        raise ApiError(409, str(err), "consent_refused") from err
    return _answer("consent_recorded", scope=record.scope, version=record.text_version,
                   given_at=record.given_at)


async def _camera_images(edge: EdgeApp, lane_id: str) -> list[Image]:
    """Take ``ENROL_FRAMES`` frames from the face camera at ``lane_id``."""
    camera = next((d.id for d in edge.config.devices
                   if d.lane == lane_id and d.id in edge.config.face.cameras), None)
    frames = getattr(edge.devices.get(camera or ""), "frames", None)
    if camera is None or not callable(frames):
        raise ApiError(409, "this kiosk has no face camera", "no_camera")
    images: list[Image] = []
    stream = frames()
    try:
        async with asyncio.timeout(CAMERA_TIMEOUT_S):
            while len(images) < ENROL_FRAMES:
                images.append((await anext(stream)).image)
                await asyncio.sleep(FRAME_GAP_S)
    except TimeoutError as err:
        raise ApiError(503, f"camera {camera} gave no frames", "no_camera") from err
    finally:
        await stream.aclose()
    return images


async def api_face_enrol(request: web.Request) -> web.Response:
    """Enrol the member from the kiosk camera; refused without their recorded consent."""
    from edge.face.types import ConsentRequired, EnrolmentRefused  # noqa: PLC0415

    edge, lane = edge_of(request), lane_of(request)
    edge.require_writable()
    face = _face(edge)
    await read_json(request, {})
    member_id = _member_id(lane)
    images = await _camera_images(edge, lane.lane_id)
    try:
        enrolment = await face.enroll(member_id, images, actor=f"kiosk:{lane.lane_id}",
                                      source=f"kiosk:{lane.lane_id}", bgr=True)
    except ConsentRequired as err:
        raise ApiError(409, str(err), "consent_required") from err
    except EnrolmentRefused as err:
        _LOGGER.info("Kiosk %s: enrolment refused: %s", lane.lane_id, err)
        return _answer("enrol_refused", ok=False)
    return _answer("face_enrolled", templates=enrolment.templates)


async def api_face_withdraw(request: web.Request) -> web.Response:
    """Withdraw the member's face consent here; their templates are deleted at once."""
    edge, lane = edge_of(request), lane_of(request)
    edge.require_writable()
    face = _face(edge)
    await read_json(request, {})
    result = await face.withdraw(_member_id(lane), f"kiosk:{lane.lane_id}")
    return _answer("consent_withdrawn", scopes=list(result.scopes),
                   templates_deleted=result.templates_deleted)

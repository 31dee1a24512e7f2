"""``FaceService``: consent, enrolment, 1:N identification and the kiosk cameras, in one object.

The app creates one (``edge.face.runtime``), the kiosk and console UIs call it, and the CLI
uses it with an in-process engine. It holds the decrypted gallery in memory only, reloads it
when the templates change (its own writes at once, other processes' within
``gallery_refresh_ms``), and runs one loop per camera: at most one job in flight, frames taken
from the camera as the worker frees up, so the newest frame wins.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..audit import record_audit
from ..sales import OutboxIdentity
from ..store import Store
from .config import FaceConfig
from .consent import (
    ConsentRecord,
    ConsentTexts,
    Withdrawal,
    consents,
    record_consent,
    withdraw_consent,
)
from .engine import Job
from .gallery import Gallery, Match
from .pool import Analyzer
from .quality import check, crowded
from .session import CameraSession, Step
from .templates import (
    Enrolment,
    gallery_generation,
    open_rows,
    sealed_rows,
    write_enrolment,
)
from .types import (
    Analysis,
    ConsentRequired,
    EnrolmentRefused,
    FaceError,
    Frame,
    Image,
    Quality,
)
from .vault import TemplateCipher
from .verify import compare_images

if TYPE_CHECKING:
    from ..metrics import EdgeMetrics

_LOGGER = logging.getLogger(__name__)
_SEARCH_IN_THREAD = 20_000  # above this many templates a search leaves the event loop


@dataclass(frozen=True, slots=True)
class Recognition:
    """A member recognised at a kiosk: agreed over several frames, live, not greeted lately."""

    camera_id: str
    lane_id: str
    member_id: str
    distance: float | None
    captured_at: float


RecognisedCallback = Callable[[Recognition], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Identification:
    """One photo searched against the gallery (``storeedge face identify``)."""

    faces: int
    decision: str            # match, unknown, ambiguous, empty, no_face
    member_id: str | None
    nearest_member: str | None
    distance: float | None
    second_distance: float | None
    quality: Quality | None  # why the kiosk would refuse this face, if it would

    def as_dict(self) -> dict[str, Any]:
        return {"faces": self.faces, "decision": self.decision, "member_id": self.member_id,
                "nearest_member": self.nearest_member, "distance": _round(self.distance),
                "second_distance": _round(self.second_distance),
                "kiosk_would_refuse": None if self.quality is None else self.quality.text}


class FaceService:
    """Face recognition for one appliance."""

    def __init__(self, store: Store, config: FaceConfig, identity: OutboxIdentity,
                 analyzer: Analyzer, *, texts: ConsentTexts | None = None,
                 metrics: EdgeMetrics | None = None) -> None:
        self.store = store
        self.config = config
        self.identity = identity
        self.analyzer = analyzer
        self.texts = texts or ConsentTexts.bundled()
        self.metrics = metrics
        self.gallery = Gallery()
        self._cipher: TemplateCipher | None = None
        self._generation = -1
        self._checked_at = 0.0
        self._reloading = asyncio.Lock()
        self._sessions: dict[str, CameraSession] = {}
        self.camera_steps: dict[str, Step] = {}

    async def start(self) -> None:
        """Open (or create) the template key and load the gallery."""
        self._cipher = await asyncio.to_thread(TemplateCipher.from_key_file,
                                               self.config.key_file)
        await self.reload()

    @property
    def cipher(self) -> TemplateCipher:
        if self._cipher is None:
            raise FaceError("the face service is not started")
        return self._cipher

    async def reload(self) -> None:
        """Rebuild the in-memory gallery from the sealed templates."""
        async with self._reloading:
            generation, rows = await self.store.read(sealed_rows)
            opened = await asyncio.to_thread(open_rows, self.cipher, rows)
            self.gallery = await asyncio.to_thread(Gallery, opened)
            self._generation = generation
            self._checked_at = time.monotonic()
        _LOGGER.info("Face gallery: %d templates of %d members", len(self.gallery),
                     len(self.gallery.members))

    async def refresh(self) -> None:
        """Reload if another process changed the templates (checked at most every interval)."""
        if time.monotonic() - self._checked_at < self.config.gallery_refresh_ms / 1000:
            return
        self._checked_at = time.monotonic()
        if await self.store.read(gallery_generation) != self._generation:
            await self.reload()

    # -- consent (the kiosk consent screen and the console) -------------------------------

    def consent_texts(self) -> dict[str, Any]:
        """Return the current consent text version and its texts per scope and language."""
        return self.texts.current_texts()

    async def record_consent(self, member_id: str, version: str, scope: str, *,
                             lane: str | None, actor: str,
                             language: str = "zh-CN") -> ConsentRecord:
        """Record a member's consent as shown on ``lane``'s screen (audited, sent to the CRM)."""
        return await self.store.write(lambda conn: record_consent(
            conn, self.identity, self.texts, member_id=member_id, version=version,
            scope=scope, language=language, lane=lane, actor=actor))

    async def withdraw(self, member_id: str, actor: str, *,
                       scope: str | None = None) -> Withdrawal:
        """Withdraw consent; unless only "chain" is withdrawn, delete the templates here."""
        result = await self.store.write(lambda conn: withdraw_consent(
            conn, self.identity, member_id=member_id, actor=actor, scope=scope))
        await self._forget(member_id, result)
        return result

    async def delete_member_face_data(self, member_id: str, actor: str) -> Withdrawal:
        """Delete a member's face data at store IT's hand: every consent ends, templates go."""
        result = await self.store.write(lambda conn: withdraw_consent(
            conn, self.identity, member_id=member_id, actor=actor,
            reason="deleted_by_store"))
        await self._forget(member_id, result)
        return result

    async def list_consents(self, *, member_id: str | None = None,
                            active_only: bool = False) -> list[ConsentRecord]:
        return await self.store.read(lambda conn: consents(
            conn, member_id=member_id, active_only=active_only))

    async def _forget(self, member_id: str, result: Withdrawal) -> None:
        if result.templates_deleted or self.gallery.count(member_id):
            await self.reload()
        for session in self._sessions.values():
            session.forget(member_id)

    # -- enrolment -----------------------------------------------------------------------

    async def enroll(self, member_id: str, images: Sequence[Image], *, actor: str,
                     source: str, names: Sequence[str] | None = None,
                     bgr: bool = False) -> Enrolment:
        """Enrol a member from photos or camera frames; refuses without an active consent.

        Every picture must show one clear, whole, frontal face; otherwise nothing is enrolled
        and ``EnrolmentRefused`` says why for each picture.
        """
        if not images:
            raise EnrolmentRefused(["no pictures given"])
        if len(images) > self.config.max_templates_per_member:
            raise EnrolmentRefused([f"at most {self.config.max_templates_per_member} "
                                    "pictures per member"])
        labels = list(names or [f"picture {i}" for i in range(1, len(images) + 1)])
        job = Job(self.config.photo_upsample, self.config.enrol_gates, bgr=bgr,
                  retry_upsample=self.config.photo_upsample + 1)
        reasons, encodings = [], []
        for label, image in zip(labels, images, strict=True):
            analysis = await self.analyzer.analyse(image, job)
            problem = enrol_problem(analysis)
            if problem:
                reasons.append(f"{label}: {problem}")
            elif analysis.encoding is not None:
                encodings.append(analysis.encoding)
        if reasons:
            await self.store.write(lambda conn: _audit_refusal(conn, actor, member_id, reasons))
            raise EnrolmentRefused(reasons)
        try:
            enrolment = await self.store.write(lambda conn: write_enrolment(
                conn, self.cipher, member_id=member_id, encodings=encodings, actor=actor,
                source=source))
        except ConsentRequired as err:
            why = [str(err)]
            await self.store.write(lambda conn: _audit_refusal(conn, actor, member_id, why))
            raise
        await self.reload()
        return enrolment

    # -- identification ------------------------------------------------------------------

    async def identify(self, image: Image, *, bgr: bool = False) -> Identification:
        """Search the dominant face of one picture against the gallery.

        The answer names the member whatever the picture's quality; ``quality`` says whether
        the kiosk would have refused such a frame, and why (a camera position, a complaint).
        """
        await self.refresh()
        job = Job(self.config.photo_upsample, None, bgr=bgr,
                  retry_upsample=self.config.photo_upsample + 1)
        analysis = await self.analyzer.analyse(image, job)
        if analysis.face is None or analysis.encoding is None:
            return Identification(len(analysis.boxes), "no_face", None, None, None, None, None)
        match = await self._search(analysis)
        return Identification(len(analysis.boxes), match.decision, match.member_id,
                              match.nearest_member, match.distance, match.second_distance,
                              check(analysis.face, self.config.kiosk_gates))

    async def compare(self, a: Image, b: Image) -> dict[str, Any]:
        """Return ``{"distance", "match", "faces"}`` for the dominant faces of two photos."""
        result = await compare_images(self.analyzer, a, b, upsample=self.config.photo_upsample,
                                      threshold=self.config.match_threshold)
        return result.as_dict()

    async def _search(self, analysis: Analysis) -> Match:
        encoding = analysis.encoding
        assert encoding is not None
        gallery, threshold, margin = (self.gallery, self.config.match_threshold,
                                      self.config.match_margin)
        if len(gallery) > _SEARCH_IN_THREAD:
            return await asyncio.to_thread(gallery.search, encoding, threshold, margin)
        return gallery.search(encoding, threshold, margin)

    # -- kiosk cameras -------------------------------------------------------------------

    async def watch(self, camera_id: str, lane_id: str, frames: AsyncIterator[Frame],
                    on_recognised: RecognisedCallback,
                    on_step: Callable[[Frame, Step], None] | None = None) -> None:
        """Run recognition on one kiosk camera's frames until they end or the task is cancelled.

        The next frame is taken only when the previous job is done, so at most one job per
        camera is in flight and a newest-frame-wins camera always hands over its latest frame.
        Frames older than ``max_frame_age_ms`` (a source that queued them) are skipped.
        ``on_step`` sees what each analysed frame changed (a console's live view, tests).
        """
        session = CameraSession(camera_id, self.config.session)
        self._sessions[camera_id] = session
        last_seq: int | None = None
        try:
            async for frame in frames:
                if last_seq is not None and frame.seq <= last_seq:
                    continue  # the same frame handed over again
                last_seq = frame.seq
                max_age = self.config.max_frame_age_ms / 1000
                if max_age and time.time() - frame.captured_at > max_age:
                    self._count(camera_id, "stale")
                    continue
                step = await self._step(session, frame)
                if step is None:
                    continue
                if on_step is not None:
                    on_step(frame, step)
                if step.greet is not None:
                    await self._greet(on_recognised, camera_id, lane_id, step, frame)
                if step.outcome == "no_face" and self.config.idle_interval_ms:
                    await asyncio.sleep(self.config.idle_interval_ms / 1000)
        finally:
            self._sessions.pop(camera_id, None)

    async def _step(self, session: CameraSession, frame: Frame) -> Step | None:
        """Analyse one frame and update the camera's session; None when the job failed."""
        await self.refresh()
        started = time.perf_counter()
        encode = session.wants_encoding() and len(self.gallery) > 0
        job = Job(self.config.upsample, self.config.kiosk_gates, encode=encode, bgr=True)
        try:
            analysis = await self.analyzer.analyse(frame.image, job)
        except FaceError as err:
            self._count(session.camera_id, "error")
            _LOGGER.warning("Camera %s: frame %d not analysed: %s", session.camera_id,
                            frame.seq, err)
            await asyncio.sleep(0.5)  # a failing worker must not turn into a busy loop
            return None
        match = await self._search(analysis) if analysis.encoding is not None else None
        step = session.observe(frame.captured_at, analysis, match)
        self.camera_steps[session.camera_id] = step
        self._count(session.camera_id, step.outcome, time.perf_counter() - started)
        return step

    async def _greet(self, on_recognised: RecognisedCallback, camera_id: str, lane_id: str,
                     step: Step, frame: Frame) -> None:
        assert step.greet is not None
        recognition = Recognition(camera_id, lane_id, step.greet, None, frame.captured_at)
        _LOGGER.info("Camera %s: member %s recognised at lane %s", camera_id, step.greet,
                     lane_id)
        if self.metrics is not None:
            self.metrics.face_greetings.labels(lane_id).inc()
        try:
            await on_recognised(recognition)
        except Exception:  # the lane's trouble must not stop the camera
            _LOGGER.exception("Greeting member %s at lane %s failed", step.greet, lane_id)

    def _count(self, camera_id: str, outcome: str, seconds: float | None = None) -> None:
        if self.metrics is None:
            return
        self.metrics.face_jobs.labels(camera_id, outcome).inc()
        if seconds is not None:
            self.metrics.face_job_seconds.observe(seconds)

    def status(self) -> dict[str, Any]:
        """Return what the console shows about face recognition."""
        return {"templates": len(self.gallery), "members": len(self.gallery.members),
                "key_id": None if self._cipher is None else self._cipher.key_id,
                "text_version": self.texts.current,
                "cameras": {c: {"outcome": s.outcome, "liveness": s.liveness,
                                "quality": s.quality} for c, s in self.camera_steps.items()}}


def enrol_problem(analysis: Analysis) -> str | None:
    """Return why a picture cannot be enrolled from, or None."""
    if analysis.face is None or analysis.dominant is None:
        return "no face found"
    if crowded(analysis.boxes, analysis.dominant):
        return ("several faces of similar size: use a picture of the member alone")
    if analysis.refused is not None:
        return analysis.refused.text
    if analysis.encoding is None:
        return "the face could not be encoded"
    return None


def _audit_refusal(conn: sqlite3.Connection, actor: str, member_id: str,
                   reasons: list[str]) -> None:
    record_audit(conn, actor, "face.enrol_refused", f"member:{member_id}",
                 {"reasons": reasons})


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)

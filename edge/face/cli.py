"""``storeedge face``: enrol, identify and compare faces from photo files (store IT tools).

    storeedge face enroll --member M0001 photo.jpg [--consent-recorded-by NAME]
    storeedge face identify photo.jpg          one JSON object: decision, member, distances
    storeedge face compare a.jpg b.jpg         {"distance": ..., "match": ..., "faces": [..]}

They run the kiosk's pipeline and threshold in this process (no daemon needed) on the config's
database and key file. Every failure is one line a person can act on, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

from ..config import Config, load_config
from ..errors import EdgeError, StoreError
from ..sales import OutboxIdentity
from ..store import Store
from .consent import LANGUAGES, SCOPES
from .engine import read_photo
from .pool import InlineAnalyzer
from .service import FaceService
from .types import EnrolmentRefused, FaceUnavailable, ImageUnreadable
from .verify import compare_images

EXIT_OK, EXIT_FAIL = 0, 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``enroll``, ``identify`` and ``compare`` subcommands."""
    sub = parser.add_subparsers(dest="face_command", metavar="ACTION", required=True)
    p = sub.add_parser("enroll", help="enrol a member from photos (needs a recorded consent)")
    p.add_argument("--member", required=True, help="member id, e.g. M0001")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                   help="photos of the member alone, face whole and frontal")
    p.add_argument("--consent-recorded-by", metavar="NAME",
                   help="record the member's signed consent form first, in NAME's name")
    p.add_argument("--scope", choices=SCOPES, default="store",
                   help="consent scope to record with --consent-recorded-by (default store)")
    p.add_argument("--language", choices=LANGUAGES, default="zh-CN",
                   help="language of the consent text the member signed (default zh-CN)")
    _config_arg(p)
    p = sub.add_parser("identify", help="say which enrolled member a photo shows, if any")
    p.add_argument("image", type=Path, metavar="IMAGE")
    _config_arg(p)
    p = sub.add_parser("compare", help="compare the faces in two photos (one JSON object)")
    p.add_argument("image_a", type=Path, metavar="A")
    p.add_argument("image_b", type=Path, metavar="B")
    _config_arg(p)


def _config_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help="config file (default: $STOREEDGE_CONFIG, else the embedded "
                             "default)")


def run(args: argparse.Namespace) -> int:
    """Run one ``storeedge face`` action; return the exit status."""
    path = args.config or (Path(os.environ["STOREEDGE_CONFIG"])
                           if os.environ.get("STOREEDGE_CONFIG") else None)
    config = load_config(path)
    actions: dict[str, Callable[[argparse.Namespace, Config], Coroutine[Any, Any, int]]] = {
        "enroll": _enroll, "identify": _identify, "compare": _compare}
    try:
        return asyncio.run(actions[args.face_command](args, config))
    except FaceUnavailable as err:
        return _fail(f"face recognition is unavailable: {err}")
    except ImageUnreadable as err:
        return _fail(str(err))
    except EnrolmentRefused as err:
        lines = "\n".join(f"  {reason}" for reason in err.reasons)
        return _fail(f"enrolment refused, nothing was stored:\n{lines}")
    except (EdgeError, OSError) as err:
        return _fail(str(err))


def _fail(message: str) -> int:
    print(f"storeedge face: {message}", file=sys.stderr)
    return EXIT_FAIL


def _print(result: dict[str, Any]) -> None:
    print(json.dumps(result, ensure_ascii=False))


async def _compare(args: argparse.Namespace, config: Config) -> int:
    a, b = read_photo(args.image_a), read_photo(args.image_b)
    analyzer = InlineAnalyzer(config.face.detector)
    result = await compare_images(analyzer, a, b, upsample=config.face.photo_upsample,
                                  threshold=config.face.match_threshold)
    _print(result.as_dict())
    return EXIT_OK


async def _identify(args: argparse.Namespace, config: Config) -> int:
    image = read_photo(args.image)
    async with _service(config) as service:
        found = await service.identify(image)
        result = found.as_dict()
        if found.member_id is not None:
            member = await service.store.fetchone("SELECT name FROM members WHERE id = ?",
                                                  (found.member_id,))
            result["name"] = member["name"] if member else None
    _print(result)
    return EXIT_OK


async def _enroll(args: argparse.Namespace, config: Config) -> int:
    images = [read_photo(path) for path in args.images]  # unreadable files stop it here
    actor = f"cli:{args.consent_recorded_by}" if args.consent_recorded_by else "cli"
    async with _service(config) as service:
        if args.consent_recorded_by:
            if args.scope == "chain" and not await service.list_consents(
                    member_id=args.member, active_only=True):
                await service.record_consent(args.member, service.texts.current, "store",
                                             lane=None, actor=actor, language=args.language)
            consent = await service.record_consent(
                args.member, service.texts.current, args.scope, lane=None, actor=actor,
                language=args.language)
            print(f"Recorded {consent.scope} consent of member {args.member} (text "
                  f"{consent.text_version}, {consent.language}) by {args.consent_recorded_by}")
        enrolment = await service.enroll(args.member, images, actor=actor, source="cli",
                                         names=[str(p) for p in args.images])
    replaced = f", replacing {enrolment.replaced}" if enrolment.replaced else ""
    print(f"Enrolled member {args.member}: {enrolment.templates} template(s){replaced}, "
          f"sealed with key {service.cipher.key_id}")
    return EXIT_OK


@contextlib.asynccontextmanager
async def _service(config: Config) -> AsyncIterator[FaceService]:
    """Yield a FaceService on the config's database, with the engine in this process."""
    store = Store(config.paths.database, busy_timeout_ms=config.database.busy_timeout_ms,
                  checkpoint_interval_s=0)
    await store.open()
    try:
        if store.safe_mode:
            raise StoreError(f"the database is in safe mode: {store.safe_mode_reason}")
        service = FaceService(store, config.face,
                              OutboxIdentity(config.store.id, config.store.device_id),
                              InlineAnalyzer(config.face.detector))
        await service.start()
        yield service
    finally:
        await store.close()

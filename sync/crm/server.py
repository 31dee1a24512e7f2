"""The reference CRM's HTTP server: pairing, signed push and pull, and a token-protected admin API.

``CrmServer`` runs it on a host and port (``storeedge crm-server``, the demo, the tests).
Errors are always ``{"error": {"code", "message"}}`` with a status that says whose fault it
is; a stack trace never leaves the process.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from edge.cart import utc_now
from edge.store import Store

from ..messages import PAIR_REQUEST, STREAM_NAMES
from ..protocol import (
    MAX_REQUEST_BYTES,
    AuthError,
    ProtocolError,
    SignedRequest,
    check_timestamp,
    loads_strict,
    parse_auth_headers,
    verify_signature,
)
from ..schema import SchemaError
from .admin import AdminError, pair_device
from .admin_api import add_admin_routes
from .db import open_crm_store, seed_crm_demo
from .ingest import ingest
from .loyalty_api import add_loyalty_routes
from .parsing import ParserUnavailable, PushParser
from .streams import changes_page, parse_cursor

_LOGGER = logging.getLogger(__name__)
MAX_PAGE = 5_000


@dataclass(frozen=True, slots=True)
class CrmSettings:
    admin_token: str | None = None
    replay_window_ms: int = 300_000
    pairing_ttl_s: int = 3_600
    default_allowance_fen: int = 50_000          # granted to a device when it first pairs
    default_per_transaction_fen: int = 20_000
    parse_workers: int = 0      # processes that parse pushes (0: a thread of the server)


class Replayed(Exception):
    """A nonce seen before within the replay window."""


class Crm:
    """The server's state: the store, the settings, and a cache of device secrets."""

    def __init__(self, store: Store, settings: CrmSettings) -> None:
        self.store = store
        self.settings = settings
        self.parser = PushParser(settings.parse_workers)
        self._secrets: dict[str, bytes] = {}
        self._nonces_written = 0

    def forget_device(self, device_key: str) -> None:
        self._secrets.pop(device_key, None)

    async def authenticate(self, request: web.Request) -> tuple[SignedRequest, bytes]:
        """Check headers, clock and signature; return the auth fields and the raw body."""
        auth = parse_auth_headers(request.headers)
        check_timestamp(auth.timestamp_ms, int(time.time() * 1000),
                        self.settings.replay_window_ms)
        body = await request.read()
        secret = self._secrets.get(auth.device)
        if secret is None:
            row = await self.store.fetchone("SELECT secret FROM devices WHERE device_key = ?",
                                            (auth.device,))
            if row is None:
                raise AuthError("unknown_device", f"device {auth.device} is not paired")
            secret = self._secrets[auth.device] = bytes(row[0])
        verify_signature(secret, request.method, request.raw_path, body, auth)
        return auth, body

    def remember_nonce(self, conn: sqlite3.Connection, auth: SignedRequest) -> None:
        """Record the request's nonce inside the caller's transaction; raise on a replay."""
        now_ms = int(time.time() * 1000)
        try:
            conn.execute("INSERT INTO nonces (device_key, nonce, expires_ms) VALUES (?, ?, ?)",
                         (auth.device, auth.nonce,
                          auth.timestamp_ms + self.settings.replay_window_ms))
        except sqlite3.IntegrityError:
            raise Replayed from None
        self._nonces_written += 1
        if self._nonces_written % 200 == 0:
            conn.execute("DELETE FROM nonces WHERE expires_ms < ?", (now_ms,))


CRM_KEY: web.AppKey[Crm] = web.AppKey("crm", Crm)


def error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


@web.middleware
async def _errors(  # noqa: PLR0911 - one answer per kind of failure
        request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except AuthError as err:
        return error(401, err.code, err.message)
    except Replayed:
        return error(409, "replayed", "this request was already received")
    except ProtocolError as err:
        return error(400, "bad_request", str(err))
    except AdminError as err:
        return error(err.status, err.code, err.message)
    except ParserUnavailable as err:
        return error(503, "parser_restarted", str(err))
    except web.HTTPRequestEntityTooLarge:
        return error(413, "too_large", f"request body over {MAX_REQUEST_BYTES} bytes")
    except web.HTTPException as err:
        if err.status >= 400:
            return error(err.status, f"http_{err.status}", err.reason)
        raise
    except Exception:
        _LOGGER.exception("CRM: unexpected error on %s %s", request.method, request.path)
        return error(500, "internal", "internal error; see the CRM log")


async def pair(request: web.Request) -> web.Response:
    crm = request.app[CRM_KEY]
    body = loads_strict(await request.read())
    try:
        PAIR_REQUEST.check(body)
    except SchemaError as err:
        raise ProtocolError(str(err)) from None
    allowance = (crm.settings.default_allowance_fen, crm.settings.default_per_transaction_fen)
    result = await crm.store.write(lambda conn: pair_device(
        conn, body["code"], body["store_id"], body["device_id"], allowance))
    crm.forget_device(result["device_key"])
    _LOGGER.info("CRM: paired device %s", result["device_key"])
    return web.json_response(result)


async def push(request: web.Request) -> web.Response:
    crm = request.app[CRM_KEY]
    auth, body = await crm.authenticate(request)
    incoming, skipped = await crm.parser.parse(body, request.headers.get("Content-Encoding"),
                                               auth.device)
    now = utc_now()

    def write(conn: sqlite3.Connection) -> dict[str, Any]:
        crm.remember_nonce(conn, auth)
        return ingest(conn, auth.device, incoming, skipped, now)

    result = await crm.store.write(write)
    if result["rejected"]:
        _LOGGER.info("CRM: %s: %d event(s) rejected, e.g. seq %s %s", auth.device,
                     len(result["rejected"]), result["rejected"][0]["seq"],
                     result["rejected"][0]["code"])
    return web.json_response(result)


async def changes(request: web.Request) -> web.Response:
    crm = request.app[CRM_KEY]
    auth, _body = await crm.authenticate(request)
    stream = request.query.get("stream", "")
    if stream not in STREAM_NAMES:
        raise ProtocolError(f"unknown stream {stream[:32]!r}; known: {', '.join(STREAM_NAMES)}")
    try:
        after = parse_cursor(request.query.get("after", ""))
        limit = int(request.query.get("limit", "500"))
    except ValueError as err:
        raise ProtocolError(str(err)) from None
    if not 1 <= limit <= MAX_PAGE:
        raise ProtocolError(f"limit must be 1-{MAX_PAGE}")
    await crm.store.write(lambda conn: crm.remember_nonce(conn, auth))
    page = await crm.store.read(
        lambda conn: changes_page(conn, stream, after, limit, auth.device))
    response = web.json_response(page)
    if len(response.body or b"") > 8192:  # type: ignore[arg-type]
        response.enable_compression()
    return response


def create_crm_app(crm: Crm) -> web.Application:
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[_errors])
    app[CRM_KEY] = crm
    app.router.add_post("/v1/pair", pair)
    app.router.add_post("/v1/events", push)
    app.router.add_get("/v1/changes", changes)
    add_admin_routes(app, crm)
    add_loyalty_routes(app, crm)
    return app


class CrmServer:
    """The reference CRM on ``host:port`` (0: any free port), with its own database file."""

    def __init__(self, db_path: Path, *, host: str = "127.0.0.1", port: int = 0,
                 settings: CrmSettings | None = None, seed_demo: bool = False,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.db_path = db_path
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self.settings = settings or CrmSettings()
        self.seed_demo = seed_demo
        self.url = ""
        self.crm: Crm | None = None
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> CrmServer:
        store = await open_crm_store(self.db_path)
        try:
            if self.seed_demo and await store.write(seed_crm_demo):
                _LOGGER.info("CRM: seeded the demo store into %s", self.db_path)
            self.crm = Crm(store, self.settings)
            await self.crm.parser.start()
            # The signature covers the body as sent; decompression is ours, and bounded.
            self._runner = web.AppRunner(create_crm_app(self.crm), access_log=None,
                                         auto_decompress=False)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self.ssl_context)
            await site.start()
        except BaseException:
            if self._runner is not None:
                await self._runner.cleanup()
            if self.crm is not None:
                await asyncio.to_thread(self.crm.parser.stop)
                self.crm = None
            await store.close()
            raise
        sockets = getattr(site._server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else self.port
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host  # noqa: S104
        self.url = f"{'https' if self.ssl_context else 'http'}://{host}:{port}"
        _LOGGER.info("CRM: serving on %s (database %s)", self.url, self.db_path)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.crm is not None:
            await asyncio.to_thread(self.crm.parser.stop)
            await self.crm.store.close()
            self.crm = None

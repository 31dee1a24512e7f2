"""HTTP to the CRM: signed requests, TLS verified, every wait bounded, every answer bounded.

The transport turns every failure into one of the ``sync.errors`` classes (via
``sync.retry.error_for_status``) and never lets a hostile answer through unbounded: bodies are
read up to a limit, decompressed up to a limit, and parsed by ``sync.messages``.
"""

from __future__ import annotations

import asyncio
import email.utils
import io
import logging
import ssl
import time
import urllib.parse

import aiohttp
from yarl import URL

from .errors import TransientError
from .protocol import ProtocolError, decode_body, signed_headers
from .retry import error_for_status

_LOGGER = logging.getLogger(__name__)
USER_AGENT = "StoreEdge-sync/1"


def client_ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Verify the CRM's certificate against the system CAs, or a chain's own CA bundle."""
    context = ssl.create_default_context(cafile=ca_file or None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class Transport:
    """One HTTP session to one CRM, signing as one device."""

    def __init__(self, base_url: str, *, device_key: str = "", secret: bytes = b"",
                 connect_timeout_s: float = 5.0, request_timeout_s: float = 30.0,
                 max_response_bytes: int = 16 * 1024 * 1024, ca_file: str | None = None,
                 retry_after_max_s: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._prefix = urllib.parse.urlsplit(self.base_url).path
        self._device_key = device_key
        self._secret = secret
        self._timeout = aiohttp.ClientTimeout(total=request_timeout_s,
                                              sock_connect=connect_timeout_s,
                                              connect=connect_timeout_s)
        self._max_response = max_response_bytes
        self._retry_after_max_s = retry_after_max_s
        self._ssl = client_ssl_context(ca_file) if self.base_url.startswith("https:") else None
        self._session: aiohttp.ClientSession | None = None
        self.skew_s: float | None = None     # local clock minus the CRM's (from its Date header)
        self.last_latency_s: float | None = None

    async def __aenter__(self) -> Transport:
        connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True, limit=8)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, auto_decompress=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip"})
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def signing_time_ms(self) -> int:
        """Now on the CRM's clock as far as we know it, so a wrong local clock still signs."""
        now = time.time()
        if self.skew_s is not None and abs(self.skew_s) >= 2:
            now -= self.skew_s
        return int(now * 1000)

    async def request(self, method: str, path: str, body: bytes = b"", *,
                      content_type: str = "application/json", gzipped: bool = False,
                      idempotency_key: str = "", signed: bool = True) -> bytes:
        """Send one request and return the decoded body of a 2xx answer; raise otherwise."""
        if self._session is None:
            raise RuntimeError("transport is not open")
        target = self._prefix + path
        headers: dict[str, str] = {"Content-Type": content_type} if body else {}
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        if signed:
            headers.update(signed_headers(self._secret, self._device_key, method, target, body,
                                          timestamp_ms=self.signing_time_ms(),
                                          idempotency_key=idempotency_key))
        url = URL(self.base_url + path, encoded=True)
        # aiohttp writes a large bytes body in one go; a file-like body goes in chunks.
        data: bytes | io.BytesIO | None = (io.BytesIO(body) if len(body) > 512 * 1024
                                           else body or None)
        sent = time.time()
        try:
            async with self._session.request(method, url, data=data,
                                             headers=headers) as response:
                raw = await self._read_bounded(response)
                received = time.time()
                self._note_date(response.headers.get("Date"), sent, received)
                status = response.status
                encoding = response.headers.get("Content-Encoding")
                retry_after = response.headers.get("Retry-After")
        except TimeoutError:
            raise TransientError(f"no answer from the CRM within "
                                 f"{self._timeout.total:.0f} s") from None
        except (aiohttp.ClientError, OSError) as err:
            raise TransientError(f"cannot reach the CRM: {_describe(err)}") from None
        self.last_latency_s = received - sent
        try:
            decoded = decode_body(raw, encoding, self._max_response)
        except ProtocolError as err:
            raise TransientError(f"garbled answer from the CRM: {err}") from None
        if not 200 <= status < 300:
            raise error_for_status(status, decoded, retry_after, self._retry_after_max_s)
        return decoded

    async def _read_bounded(self, response: aiohttp.ClientResponse) -> bytes:
        declared = response.content_length
        if declared is not None and declared > self._max_response:
            raise TransientError(f"the CRM's answer is {declared} bytes, over the "
                                 f"{self._max_response}-byte limit")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(65536):
            size += len(chunk)
            if size > self._max_response:
                raise TransientError(f"the CRM's answer exceeds {self._max_response} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    def _note_date(self, value: str | None, sent: float, received: float) -> None:
        if not value or len(value) > 64:
            return
        try:
            server = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError, OverflowError):
            return
        # The Date header has one-second resolution and is stamped mid-request.
        self.skew_s = round((sent + received) / 2 - server - 0.5, 1)


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text[:300]


async def sleep_or_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for ``event`` at most ``timeout_s``; return whether it was set (and clear it)."""
    try:
        await asyncio.wait_for(event.wait(), timeout_s)
    except TimeoutError:
        return False
    event.clear()
    return True


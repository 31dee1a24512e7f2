"""A TCP proxy for HTTP/1.1 that breaks exchanges on purpose, between the edge and the CRM.

Each request goes upstream on its own connection (``Connection: close``) and comes back
whole before the proxy decides what the client gets: all of it, part of it, garbage, an
error of its own, nothing, or the request delivered twice upstream. A fault after forwarding
is the nasty kind: the CRM has done the work and the edge never hears of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections import Counter
from collections.abc import Callable

from drivers.stream_server import StreamServer

FAULTS = ("pass", "reset_before", "reset_after", "truncate", "delay", "error_500",
          "throttle_429", "twice", "garble", "late")


class FaultProxy:
    def __init__(self, upstream_port: int, choose: Callable[..., str], *,
                 slow_s: float = 1.5, with_body: bool = False) -> None:
        """``choose(method, path)`` names each request's fault; with ``with_body`` it is
        ``choose(method, path, body)``, the body as sent (a push's is gzip)."""
        self._upstream_port = upstream_port
        self._choose = choose
        self._with_body = with_body
        self._slow_s = slow_s
        self.seen: Counter[tuple[str, str]] = Counter()     # (path, fault) -> count
        self._server = StreamServer(self._handle, name="fault-proxy")
        self.url = ""

    async def __aenter__(self) -> FaultProxy:
        port = await self._server.start_tcp("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            path = request.split(b" ", 2)[1].split(b"?")[0].decode()
            method = request.split(b" ", 1)[0].decode()
            fault = (self._choose(method, path, request.partition(b"\r\n\r\n")[2])
                     if self._with_body else self._choose(method, path))
            self.seen[(path, fault)] += 1
            await self._serve(fault, request, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve(self, fault: str, request: bytes, writer: asyncio.StreamWriter) -> None:
        if fault == "reset_before":
            return _reset(writer)
        if fault == "error_500":
            return await _answer(writer, 500, b'{"error":{"code":"down","message":"proxy"}}')
        if fault == "throttle_429":
            return await _answer(writer, 429, b'{"error":{"code":"slow","message":"down"}}',
                                 b"Retry-After: 1\r\n")
        if fault == "late":   # reaches the CRM after requests sent later
            await asyncio.sleep(self._slow_s)
        response = await self._upstream(request)
        if fault == "twice":
            second = await self._upstream(request)
            response = random.choice((response, second))
        head, _, body = response.partition(b"\r\n\r\n")
        if fault == "reset_after":
            writer.write(response[: len(response) // 2])
            await writer.drain()
            return _reset(writer)
        if fault == "truncate":
            response = head + b"\r\n\r\n" + body[: len(body) // 2]
        elif fault == "garble":
            response = head + b"\r\n\r\n" + bytes(random.randrange(256)
                                                   for _ in body)
        elif fault == "delay":
            await asyncio.sleep(self._slow_s)
        writer.write(response)
        await writer.drain()
        return None

    async def _upstream(self, request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        try:
            writer.write(request)
            await writer.drain()
            return await reader.read()
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head[:-4].split(b"\r\n")
    length = 0
    kept = [lines[0]]
    for line in lines[1:]:
        name = line.split(b":", 1)[0].strip().lower()
        if name == b"content-length":
            length = int(line.split(b":", 1)[1])
        if name not in (b"connection", b"keep-alive"):
            kept.append(line)
    kept.append(b"Connection: close")
    body = await reader.readexactly(length) if length else b""
    return b"\r\n".join(kept) + b"\r\n\r\n" + body


async def _answer(writer: asyncio.StreamWriter, status: int, body: bytes,
                  extra: bytes = b"") -> None:
    writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n%s\r\n%s" % (status, len(body), extra, body))
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST instead of a FIN: what a crashing middlebox does."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()

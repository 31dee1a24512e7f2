"""The stream server behind the simulated scanner and scale sockets: stopping it is always clean.

A plain asyncio stream server logs "Exception in callback" when a connection task is cancelled
before it ran; that happened at shutdown in the faulty-network sync test. The autouse loop
hygiene fixture fails any test here that lets such an error reach the loop.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from drivers.stream_server import StreamServer


async def _echo_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while line := await reader.readline():
        writer.write(line)
        await writer.drain()
    writer.close()


async def test_close_ends_open_connections_and_the_client_sees_the_hang_up() -> None:
    server = StreamServer(_echo_forever, name="echo")
    port = await server.start_tcp("127.0.0.1", 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"hello\n")
    assert await asyncio.wait_for(reader.readline(), 10) == b"hello\n"
    assert server.connections == 1

    await server.close()

    assert server.connections == 0
    assert await asyncio.wait_for(reader.read(), 10) == b""      # the server hung up
    writer.close()
    with pytest.raises(OSError):
        await asyncio.open_connection("127.0.0.1", port)        # and no longer listens


async def test_a_connection_cancelled_before_its_first_step_reaches_no_loop_error() -> None:
    server = StreamServer(_echo_forever, name="echo")
    await server.start_tcp("127.0.0.1", 0)
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    # What asyncio does on accept; closing in the same step cancels the task before it ran.
    server._accept(reader, writer)
    await server.close()

    assert server.connections == 0
    assert writer.is_closing()
    theirs.close()


async def test_a_failing_handler_is_logged_and_the_others_keep_being_served(
        caplog: pytest.LogCaptureFixture) -> None:
    async def picky(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        if line == b"boom\n":
            raise ValueError("bad request")
        await _echo_forever(reader, writer)

    server = StreamServer(picky, name="picky")
    port = await server.start_tcp("127.0.0.1", 0)
    try:
        bad_reader, bad_writer = await asyncio.open_connection("127.0.0.1", port)
        bad_writer.write(b"boom\n")
        assert await asyncio.wait_for(bad_reader.read(), 10) == b""
        bad_writer.close()

        good_reader, good_writer = await asyncio.open_connection("127.0.0.1", port)
        good_writer.write(b"first\nsecond\n")
        assert await asyncio.wait_for(good_reader.readline(), 10) == b"second\n"
        good_writer.close()
    finally:
        await server.close()
    assert "picky: a connection failed" in caplog.text
    assert "bad request" in caplog.text

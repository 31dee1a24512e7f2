"""A wallet provider's answer is trusted only over a verified TLS connection.

The payment transport is pointed at a real HTTPS server on 127.0.0.1 whose certificate no
system CA signed (as a proxy intercepting the store's uplink would present): nothing is sent,
and the failure is classified as "never delivered", so the payment is not left in doubt. With
the issuing CA trusted the same server answers.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from edge.payments.base import NotDelivered
from edge.payments.transport import HttpLimits, post
from tests.test_sync_tls import make_ca_and_server

LIMITS = HttpLimits(timeout_s=5, connect_timeout_s=5, max_bytes=4096)


@pytest.fixture
async def https_provider(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    ca_file, context = make_ca_and_server(tmp_path)

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=b"<xml><return_code>SUCCESS</return_code></xml>")

    app = web.Application()
    app.router.add_post("/pay/micropay", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"https://127.0.0.1:{port}/pay/micropay", ca_file
    finally:
        await runner.cleanup()


async def test_an_untrusted_certificate_means_nothing_was_sent(
        https_provider: tuple[str, Path]) -> None:
    url, ca_file = https_provider
    async with aiohttp.ClientSession() as session:
        with pytest.raises(NotDelivered, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
            await post(session, url, b"<xml/>", "text/xml", LIMITS)
        trusted = ssl.create_default_context(cafile=str(ca_file))
        answer = await post(session, url, b"<xml/>", "text/xml", LIMITS, ssl_context=trusted)
    assert b"SUCCESS" in answer

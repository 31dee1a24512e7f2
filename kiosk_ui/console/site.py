"""Run the console as its own site: own address and port, optional TLS, first-run code.

A console that cannot start (port taken, unreadable certificate) is logged with what to fix
and the daemon keeps selling: the console is for store IT, the lanes are for the shoppers.
"""

from __future__ import annotations

import functools
import logging
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from aiohttp import web

from edge.errors import EdgeError
from edge.sessions import Sessions

from ..push import Feed
from .app import create_console_app
from .config import ConsoleConfig
from .context import ConsoleState
from .dashboard import compute_dashboard
from .setup_code import SetupCode

if TYPE_CHECKING:
    from edge.app import EdgeApp

_LOGGER = logging.getLogger(__name__)
URL_FILE = "console-url"


def tls_context(config: ConsoleConfig) -> ssl.SSLContext:
    """Return a server context for the configured certificate: TLS 1.2+ with AEAD ciphers."""
    assert config.tls_cert is not None and config.tls_key is not None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")  # TLS 1.2 suites; 1.3 are all modern
    context.load_cert_chain(config.tls_cert, config.tls_key)
    return context


async def _first_run(state: ConsoleState, url: str) -> None:
    """Issue the setup code when there is no user; remove a stale one otherwise."""
    try:
        users = await state.users.count()
    except EdgeError as err:
        _LOGGER.error("Console cannot read its users (%s); sign-in will fail until the "
                      "database is repaired", err)
        return
    if users:
        state.setup.retire()
        return
    code = state.setup.issue()
    _LOGGER.warning("No console user yet. Open %s/console/setup and enter the one-time setup "
                    "code %s (also in %s) to create the IT admin.", url, code, state.setup.path)


@asynccontextmanager
async def console_site(edge: EdgeApp) -> AsyncIterator[str | None]:
    """Serve the console while the context is open; yield its URL, or None when it is off."""
    config = edge.config.console
    if not config.enabled:
        yield None
        return
    try:
        context = tls_context(config) if config.tls else None
    except (ssl.SSLError, OSError) as err:
        _LOGGER.error("Console not started: cannot use console.tls_cert/tls_key: %s", err)
        yield None
        return
    state = ConsoleState(
        edge=edge, config=config, users=edge.users,
        sessions=Sessions(edge.store, config.sessions),
        setup=SetupCode(edge.config.paths.state_dir),
        dashboard=Feed("dashboard", functools.partial(compute_dashboard, edge),
                       config.push_interval_s))
    runner = web.AppRunner(create_console_app(state), access_log=None)
    await runner.setup()
    url_file = edge.config.paths.run_dir / URL_FILE
    try:
        site = web.TCPSite(runner, config.host, config.port, ssl_context=context)
        try:
            await site.start()
        except OSError as err:
            _LOGGER.error("Console not started: cannot listen on %s:%d (%s); change "
                          "[console] host/port. Sales go on.", config.host, config.port, err)
            yield None
            return
        sockets = getattr(site._server, "sockets", None) or []
        port = sockets[0].getsockname()[1] if sockets else config.port
        url = config.local_url(port)
        url_file.parent.mkdir(parents=True, exist_ok=True)
        partial = url_file.with_name(URL_FILE + ".partial")
        partial.write_text(url + "\n", "utf-8")
        os.replace(partial, url_file)  # a reader never sees half a URL
        for lane in edge.lanes.values():
            lane.observe(lambda _lane, _event: state.dashboard.poke())
        await _first_run(state, url)
        _LOGGER.info("Console serving on %s/console", url)
        yield url
    finally:
        url_file.unlink(missing_ok=True)
        await runner.cleanup()

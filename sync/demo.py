"""The demo's CRM: the reference CRM beside the daemon, seeded alike, paired on first start."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from edge.config import Config

from .credentials import load_credentials
from .crm.admin import create_pairing_code
from .crm.cli import admin_token
from .crm.db import seed_demo_coupon_rules
from .crm.server import CrmServer, CrmSettings
from .errors import NotPaired
from .pairing import pair_and_save

_LOGGER = logging.getLogger(__name__)


@asynccontextmanager
async def demo_crm(config: Config) -> AsyncIterator[Config]:
    """Run the CRM on ``state_dir/crm.db``; yield ``config`` pointed at it, the device paired."""
    state = config.paths.state_dir
    settings = CrmSettings(admin_token=admin_token(state / "crm.db.admin-token"))
    # Beside the kiosk site, clear of the console's default port (http + 1).
    port = config.http.port + 10 if config.http.port else 0
    try:
        server = CrmServer(state / "crm.db", port=port, settings=settings, seed_demo=True)
        await server.__aenter__()
    except OSError as err:
        _LOGGER.warning("Demo CRM: port %d is taken (%s); using any free port", port, err)
        server = CrmServer(state / "crm.db", port=0, settings=settings, seed_demo=True)
        await server.__aenter__()
    try:
        assert server.crm is not None
        if await server.crm.store.write(seed_demo_coupon_rules):
            _LOGGER.info("Demo CRM: rules for coupons after payment added")
        config = dataclasses.replace(config, sync=dataclasses.replace(config.sync,
                                                                      crm_url=server.url))
        if await _needs_pairing(config, server):
            crm = server.crm
            assert crm is not None
            code = await crm.store.write(lambda conn: create_pairing_code(
                conn, config.store.id, config.store.device_id, 600))
            creds = await pair_and_save(config, code["code"], server.url)
            _LOGGER.info("Demo CRM: paired this daemon as %s", creds.device_key)
        yield config
    finally:
        await server.__aexit__(None, None, None)


async def _needs_pairing(config: Config, server: CrmServer) -> bool:
    path = config.sync.credentials_path(config.paths.state_dir)
    try:
        creds = load_credentials(path, config.store.id, config.store.device_id)
    except NotPaired:
        return True
    assert server.crm is not None
    row = await server.crm.store.fetchone("SELECT secret FROM devices WHERE device_key = ?",
                                          (creds.device_key,))
    # A fresh crm.db (deleted to start over) does not know the old credentials.
    return row is None or bytes(row[0]) != creds.secret

"""``storeedge pair CODE [--crm URL]``: trade a one-time code for the device's id and secret."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from edge.cart import utc_now
from edge.config import Config, load_config
from edge.errors import ConfigError

from .config import check_crm_url
from .credentials import Credentials, decode_secret, save_credentials
from .errors import SyncError
from .messages import PAIR_RESPONSE
from .protocol import ProtocolError, dumps, loads_strict
from .schema import SchemaError
from .transport import Transport

ENV_CONFIG = "STOREEDGE_CONFIG"


async def pair(crm_url: str, code: str, store_id: str, device_id: str, *,
               ca_file: str | None = None, timeout_s: float = 15.0) -> Credentials:
    """Ask the CRM at ``crm_url`` for credentials with ``code``; raise ``SyncError``."""
    body = dumps({"code": code.strip().upper(), "store_id": store_id, "device_id": device_id})
    async with Transport(crm_url, connect_timeout_s=timeout_s, request_timeout_s=timeout_s,
                         max_response_bytes=65536, ca_file=ca_file) as transport:
        raw = await transport.request("POST", "/v1/pair", body, signed=False)
    try:
        answer = loads_strict(raw)
        PAIR_RESPONSE.check(answer)
        secret = decode_secret(answer["secret"])
    except (ProtocolError, SchemaError, ValueError) as err:
        raise SyncError(f"the CRM's pairing answer is unusable: {err}") from None
    if (answer["store_id"], answer["device_id"]) != (store_id, device_id):
        raise SyncError(f"the CRM paired {answer['store_id']}:{answer['device_id']}, "
                        f"not {store_id}:{device_id}")
    return Credentials(crm_url=crm_url, device_key=answer["device_key"], store_id=store_id,
                       device_id=device_id, paired_at=utc_now(), secret=secret)


async def pair_and_save(config: Config, code: str, crm_url: str) -> Credentials:
    """Pair this device and write its credentials file (0600)."""
    creds = await pair(crm_url, code, config.store.id, config.store.device_id,
                       ca_file=config.sync.ca_file or None,
                       timeout_s=config.sync.request_timeout_ms / 1000)
    await asyncio.to_thread(save_credentials,
                            config.sync.credentials_path(config.paths.state_dir), creds)
    return creds


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("code", help="the one-time pairing code from the CRM, e.g. ABCD-EFGH-JKLM")
    parser.add_argument("--crm", default=None,
                        help="the CRM's base URL (default: [sync] crm_url in the config)")
    parser.add_argument("-c", "--config", type=Path, default=None,
                        help=f"config file (default: ${ENV_CONFIG}, else the embedded default)")


def run(args: argparse.Namespace) -> int:
    path = args.config or (Path(os.environ[ENV_CONFIG]) if os.environ.get(ENV_CONFIG) else None)
    config = load_config(path)
    url = args.crm or config.sync.crm_url
    if not url:
        print("No CRM URL: pass --crm https://... or set [sync] crm_url", file=sys.stderr)
        return 2
    try:
        url = check_crm_url(url, config.sync.allow_insecure_http, "--crm")
    except ConfigError as err:
        print(f"storeedge pair: {err}", file=sys.stderr)
        return 2
    try:
        creds = asyncio.run(pair_and_save(config, args.code, url))
    except SyncError as err:
        print(f"Pairing failed: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"Pairing worked but the credentials could not be written: {err}", file=sys.stderr)
        return 1
    where = config.sync.credentials_path(config.paths.state_dir)
    print(f"Paired as {creds.device_key} with {url}. Credentials written to {where} (mode 0600); "
          "a running daemon picks them up within seconds.")
    return 0

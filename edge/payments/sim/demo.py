"""`storeedge demo`: both simulators in-process, their keys in the state directory (0600)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from ..config import PaymentsConfig
from ..keys import (
    load_private_key,
    load_public_key,
    load_secret,
    new_api_key,
    new_rsa_key,
    private_pem,
    public_pem,
    write_private_file,
)
from .alipay import AlipaySimulator
from .wechat import WeChatPaySimulator

DEMO_APPID, DEMO_MCH_ID, DEMO_ALIPAY_APP_ID = "wxd930ea5d5a258f4f", "10000100", "2021000000000001"


@dataclass(frozen=True, slots=True)
class DemoPayments:
    settings: PaymentsConfig
    urls: dict[str, str]


def demo_codes() -> tuple[str, str]:
    """A fresh WeChat and Alipay payment code; ending in 9 keeps them off the scripted rules."""
    digits = "".join(secrets.choice("0123456789") for _ in range(15))
    return f"13{digits}9", f"28{digits}9"


def ensure_demo_keys(folder: Path) -> None:
    """Create the demo's keys once: our side's and each simulated provider's."""
    if not (folder / "wechat_api_key").exists():
        write_private_file(folder / "wechat_api_key", new_api_key().encode())
    if not (folder / "alipay_app_private_key.pem").exists():
        app, gateway = new_rsa_key(), new_rsa_key()
        write_private_file(folder / "sim_alipay_private_key.pem", private_pem(gateway))
        write_private_file(folder / "alipay_public_key.pem", public_pem(gateway))
        write_private_file(folder / "app_public_key.pem", public_pem(app))
        write_private_file(folder / "alipay_app_private_key.pem", private_pem(app))


@asynccontextmanager
async def run_simulators(base: PaymentsConfig, folder: Path) -> AsyncIterator[DemoPayments]:
    """Start both simulators on 127.0.0.1 and yield settings that point the clients at them."""
    ensure_demo_keys(folder)
    wechat = WeChatPaySimulator(key=load_secret(folder / "wechat_api_key"), appid=DEMO_APPID,
                                mch_id=DEMO_MCH_ID)
    alipay = AlipaySimulator(app_public_key=load_public_key(folder / "app_public_key.pem"),
                             private_key=load_private_key(folder / "sim_alipay_private_key.pem"),
                             app_id=DEMO_ALIPAY_APP_ID)
    async with wechat, alipay:
        settings = dataclasses.replace(
            base,
            wechat=dataclasses.replace(base.wechat, enabled=True, base_url=wechat.url,
                                       appid=DEMO_APPID, mch_id=DEMO_MCH_ID,
                                       key_file=folder / "wechat_api_key",
                                       cert_file=None, cert_key_file=None),
            alipay=dataclasses.replace(
                base.alipay, enabled=True, base_url=alipay.url + "/gateway.do",
                app_id=DEMO_ALIPAY_APP_ID,
                private_key_file=folder / "alipay_app_private_key.pem",
                alipay_public_key_file=folder / "alipay_public_key.pem"))
        yield DemoPayments(settings, {"wechat": wechat.url, "alipay": alipay.url})

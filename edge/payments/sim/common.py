"""The simulators' shared part: scripts, the order book, and the aiohttp server around them.

The order book is protocol-neutral (states PAYING, PAID, CLOSED, FAILED, REVERSED); each
simulator maps it to its provider's words. What happens to a payment code is decided by a
script: set per code through ``POST /_sim/script`` or ``script()``, else by the code's last
four digits (``SUFFIX_RULES``, for the demo), else plain success.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from aiohttp import web

OUTCOMES = ("success", "userpaying", "systemerror", "bankerror", "expired", "invalid",
            "notenough", "garbage", "xxe", "badsign", "timeout", "slow")
# Outcomes whose order still goes through (the answer is what fails) unless charge=false.
_CHARGED_BY_DEFAULT = {"success", "systemerror", "bankerror", "timeout", "slow"}


@dataclass(frozen=True, slots=True)
class Script:
    """What the simulated provider does with one payment code."""

    outcome: str = "success"
    queries: int = 0          # userpaying: queries answered "still paying" before `then`
    then: str = "success"     # userpaying ends in "success" or "closed"
    charge: bool | None = None  # garbage/badsign/timeout/systemerror: did the money move?
    delay_s: float = 0.0      # slow: answer after this long
    recalls: int = 0          # reverse answers "call again" (recall=Y) this many times first
    reverse: str = "ok"       # "ok", "timeout" (no answer) or "refuse" (too old to reverse)
    payer: str | None = None  # who pays: one payer on two codes is one shopper (else a stranger)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Script:
        """Validate an admin request; raise ValueError naming the bad field."""
        known = {f.name for f in fields(cls)}
        extra = set(data) - known - {"auth_code"}
        if extra:
            raise ValueError(f"unknown fields: {sorted(extra)}")
        script = cls(**{k: v for k, v in data.items() if k in known})
        if script.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}")
        if script.then not in ("success", "closed") or script.reverse not in (
                "ok", "timeout", "refuse"):
            raise ValueError("then must be success|closed, reverse ok|timeout|refuse")
        if not (0 <= script.queries <= 10_000 and 0 <= script.recalls <= 100
                and 0 <= script.delay_s <= 60):
            raise ValueError("queries, recalls or delay_s out of range")
        if script.payer is not None and not (
                isinstance(script.payer, str) and 0 < len(script.payer) <= 32
                and script.payer.isascii() and script.payer.isalnum()):
            raise ValueError("payer must be 1-32 letters and digits")
        return script

    @property
    def charges(self) -> bool:
        return self.charge if self.charge is not None else self.outcome in _CHARGED_BY_DEFAULT


SUFFIX_RULES: dict[str, Script] = {
    "0001": Script("userpaying", queries=2),
    "0002": Script("notenough"),
    "0003": Script("expired"),
    "0004": Script("systemerror"),
    "0005": Script("userpaying", queries=10_000),
}


@dataclass
class SimOrder:
    out_trade_no: str
    auth_code: str
    amount_fen: int
    script: Script
    state: str
    transaction_id: str
    queries_left: int = 0
    recalls_left: int = 0
    pay_calls: int = 1
    query_calls: int = 0
    reverse_calls: int = 0
    charged_fen: int = 0
    refunded_fen: int = 0
    payer: str = ""

    def _payer_hash(self, merchant: str) -> bytes:
        return hashlib.sha256(f"{merchant}:{self.payer}".encode()).digest()

    def openid(self, appid: str) -> str:
        """WeChat's id of who paid: 28 characters, stable per appid."""
        return "o" + base64.urlsafe_b64encode(self._payer_hash(appid)).decode()[:27]

    def buyer_user_id(self, app_id: str) -> str:
        """Alipay's id of who paid: 2088 and 12 digits."""
        return "2088" + f"{int.from_bytes(self._payer_hash(app_id)[:8], 'big') % 10**12:012d}"

    def view(self) -> dict[str, Any]:
        data = asdict(self)
        data["script"] = asdict(self.script)
        data["auth_code"] = self.auth_code[:2] + "…" + self.auth_code[-4:]
        return data


@dataclass
class OrderBook:
    """Orders by out_trade_no, the codes already used, and the scripts."""

    orders: dict[str, SimOrder] = field(default_factory=dict)
    used_codes: dict[str, str] = field(default_factory=dict)
    scripts: dict[str, Script] = field(default_factory=dict)

    def script_for(self, code: str) -> Script:
        return self.scripts.get(code) or SUFFIX_RULES.get(code[-4:]) or Script()

    def submit(self, out_trade_no: str, code: str, amount_fen: int) -> tuple[str, SimOrder]:
        """Take a payment; return (verdict, order). Verdicts are protocol-neutral."""
        order = self.orders.get(out_trade_no)
        if order is not None:
            order.pay_calls += 1
            return {"PAID": "duplicate_paid", "PAYING": "userpaying"}.get(
                order.state, "duplicate_closed"), order
        if code in self.used_codes:
            used = self.orders[self.used_codes[code]]
            return "code_used", used
        script = self.script_for(code)
        order = SimOrder(out_trade_no, code, amount_fen, script, "CLOSED",
                         "4200" + secrets.token_hex(12), recalls_left=script.recalls,
                         payer=script.payer or secrets.token_hex(8))
        self.orders[out_trade_no] = order
        self.used_codes[code] = out_trade_no
        if script.outcome == "userpaying":
            order.state, order.queries_left = "PAYING", script.queries
            return "userpaying", order
        if script.outcome in ("expired", "invalid", "notenough"):
            return script.outcome, order
        if script.charges:
            self._pay(order)
        return script.outcome, order

    def query(self, out_trade_no: str) -> SimOrder | None:
        order = self.orders.get(out_trade_no)
        if order is None:
            return None
        order.query_calls += 1
        if order.state == "PAYING":
            if order.queries_left > 0:
                order.queries_left -= 1
            elif order.script.then == "success":
                self._pay(order)
            else:
                order.state = "CLOSED"
        return order

    def reverse(self, out_trade_no: str) -> tuple[str, SimOrder | None]:
        """Return (verdict, order): "reversed", "recall", "hold", "refuse" or "not_found"."""
        order = self.orders.get(out_trade_no)
        if order is None:
            return "not_found", None
        order.reverse_calls += 1
        if order.script.reverse == "timeout":
            return "hold", order
        if order.script.reverse == "refuse":
            return "refuse", order
        if order.recalls_left > 0:
            order.recalls_left -= 1
            return "recall", order
        if order.state != "REVERSED":
            order.refunded_fen = order.charged_fen  # a paid order is refunded in full, once
            order.state = "REVERSED"
        return "reversed", order

    @staticmethod
    def _pay(order: SimOrder) -> None:
        order.state, order.charged_fen = "PAID", order.amount_fen


class SimServer:
    """An aiohttp server on 127.0.0.1 with the admin endpoints; subclasses add the protocol."""

    def __init__(self, *, hold_s: float = 30.0) -> None:
        self.book = OrderBook()
        self.hold_s = hold_s
        self.url = ""
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def script(self, auth_code: str, script: Script) -> None:
        self.book.scripts[auth_code] = script

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_post("/_sim/script", self._admin_script)
        app.router.add_get("/_sim/orders", self._admin_orders)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound = self._runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        return self.url

    async def stop(self) -> None:
        self._closing.set()  # answers being held back return now
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def hold(self, seconds: float | None = None) -> None:
        """Keep an answer back (a provider that does not answer in time)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), self.hold_s if seconds is None
                                   else seconds)

    async def _admin_script(self, request: web.Request) -> web.Response:
        try:
            data = await request.json()
            if not isinstance(data, dict) or not isinstance(data.get("auth_code"), str):
                raise ValueError("auth_code is required")
            self.script(data["auth_code"], Script.from_json(data))
        except (ValueError, TypeError) as err:
            return web.json_response({"error": str(err)}, status=400)
        return web.json_response({"ok": True})

    async def _admin_orders(self, _request: web.Request) -> web.Response:
        return web.json_response([o.view() for o in self.book.orders.values()])


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

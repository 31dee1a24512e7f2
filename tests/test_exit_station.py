"""The scan-and-go exit: tokens the reference CRM issues pass once, offline; reused, expired,
forged and other stores' tokens are refused with the reason; random checks come at the
configured rate and ask for the sale's own items."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from edge.app import EdgeApp
from edge.exit_tokens import ExitClaims, key_id, sign_token
from edge.sales import CompletedSale
from tests.checkout_support import config_path, running, scan, scrape, staff
from tests.helpers import CHIPS, MILK, WATER
from tests.sync_helpers import (
    admin_of,
    crm_rows,
    pair,
    running_crm,
    sync_config_text,
    wait_for,
)

KEY = Ed25519PrivateKey.generate()


def token(sale_id: str | None = None, *, store: str = "T01", issued: int | None = None,
          ttl: int = 600, items: int = 3, amount: int = 2350,
          key: Ed25519PrivateKey = KEY) -> str:
    now = int(time.time()) if issued is None else issued
    claims = ExitClaims(key_id(key.public_key()), store, sale_id or uuid.uuid4().hex, now,
                        now + ttl, items, amount)
    return "EXIT." + sign_token(key, claims)


def pinned(tmp_path: Path, **settings: Any) -> Path:
    """A config whose exit lane trusts KEY through a pinned key file."""
    folder = tmp_path / "state" / "keys"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "exit.pub").write_bytes(
        KEY.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return config_path(tmp_path, exit_lane=True, exit_public_keys=["keys/exit.pub"], **settings)


@pytest.fixture
async def station(tmp_path: Path) -> AsyncIterator[EdgeApp]:
    async with running(pinned(tmp_path)) as app:
        yield app


async def test_a_token_passes_once_and_each_refusal_names_its_reason(station: EdgeApp) -> None:
    good = token()
    passed = await scan(station, good, lane="9")
    assert passed.code == "exit_passed" and passed.data["amount_fen"] == 2350
    again = await scan(station, good, lane="9")
    assert (again.code, again.data["reason"]) == ("exit_refused", "already_used")
    assert again.data["en"] == "Exit code already used"
    stranger = Ed25519PrivateKey.generate()
    now = int(time.time())
    cases = {
        token(issued=now - 4000, ttl=600): "expired",
        token(issued=now + 3600): "not_yet_valid",
        token(store="T02"): "other_store",
        token(key=stranger): "unknown_key",
        good[:-8] + "AAAAAAAA": "bad_signature",
        "EXIT.not-a-token": "malformed",
    }
    for text, reason in cases.items():
        refused = await scan(station, text, lane="9")
        assert (refused.code, refused.data["reason"]) == ("exit_refused", reason), text
        assert refused.data["zh"] and refused.data["en"]
        assert station.lanes["9"].snapshot()["exit"]["state"] == "refused"
    rows = await station.store.fetchall("SELECT action, detail FROM audit_log WHERE action"
                                        " LIKE 'exit.%' ORDER BY id")
    assert [r["action"] for r in rows] == ["exit.passed"] + ["exit.refused"] * 7
    assert (await scan(station, WATER, lane="9")).data["reason"] == "not_exit_code"
    # A kiosk does not let anyone out.
    elsewhere = await scan(station, token(), lane="1")
    assert (elsewhere.code, elsewhere.data["reason"]) == ("exit_refused", "not_exit")
    assert station.http_url is not None
    figures = await scrape(station.http_url)
    exits = {labels: value for (name, labels), value in figures.items()
             if name == "storeedge_exits_total"}
    assert exits[(("lane", "9"), ("outcome", "passed"), ("reason", ""))] == 1.0
    assert exits[(("lane", "9"), ("outcome", "refused"), ("reason", "already_used"))] == 1.0
    assert sum(exits.values()) == 10   # 1 passed, 7 refused tokens, 1 not a token, 1 at a kiosk


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
async def test_the_check_rate_is_honoured(tmp_path: Path, rate: float) -> None:
    async with running(pinned(tmp_path, exit_audit_rate=rate, audit_seed=2024)) as app:
        codes = [(await scan(app, token(), lane="9")).code for _ in range(120)]
    audits = codes.count("exit_audit")
    assert audits + codes.count("exit_passed") == 120
    if rate in (0.0, 1.0):
        assert audits == 120 * rate
    else:   # binomial(120, 0.3): mean 36, sd 5; the seed makes it repeatable
        assert 21 <= audits <= 51


async def test_a_check_lists_the_sales_own_items_and_matches_rescans(tmp_path: Path) -> None:
    async with running(pinned(tmp_path, exit_audit_rate=1.0, exit_audit_items=2)) as app:
        badges = await staff(app)
        for code in (WATER, WATER, CHIPS):
            await scan(app, code)
        sale = await app.lanes["1"].pay_cash(2000)
        asked = await scan(app, token(sale.sale_id), lane="9")
        assert asked.code == "exit_audit" and asked.data["n"] == 2
        items = asked.data["audit"]["items"]
        assert len(items) == 2 and {i["product_id"] for i in items} <= {"P001", "P010"}
        state = app.lanes["9"].snapshot()["exit"]
        assert state["state"] == "audit" and state["audit"]["listed"]
        codes = {"P001": WATER, "P010": CHIPS}
        first = await scan(app, codes[items[0]["product_id"]], lane="9")
        assert (first.code, first.data["done"], first.data["of"]) == ("audit_rescan", 1, 2)
        done = await scan(app, codes[items[1]["product_id"]], lane="9")
        assert done.code == "exit_passed" and done.data["audited"]
        row = await app.store.fetchone("SELECT state FROM exit_passes WHERE sale_id = ?",
                                       (sale.sale_id,))
        assert row is not None and row["state"] == "audit_passed"

        # A sale from elsewhere: no list; a stray item fails it, a badge passes the next.
        other = await scan(app, token(), lane="9")
        assert other.code == "exit_audit" and not other.data["audit"]["listed"]
        await scan(app, f"BADGE:{badges['cashier']}", lane="9")
        assert app.lanes["9"].snapshot()["exit"]["state"] == "passed"
        await scan(app, token(sale_id=(await sell_one(app)).sale_id), lane="9")
        failed = await scan(app, MILK, lane="9")
        assert (failed.code, failed.data["reason"]) == ("exit_refused", "not_in_sale")
        assert app.lanes["9"].snapshot()["exit"]["state"] == "refused"


async def sell_one(app: EdgeApp) -> CompletedSale:
    await scan(app, WATER)
    return await app.lanes["1"].pay_cash(200)


async def test_the_crm_issues_tokens_and_its_keys_reach_the_exit_offline(
        tmp_path: Path) -> None:
    async with running_crm(tmp_path) as crm:
        path = config_path(tmp_path, exit_lane=True, extra=sync_config_text(crm.url))
        async with running(path) as app, admin_of(crm) as admin:
            await pair(app.config, crm)

            async def issue(sale_id: str) -> dict[str, Any]:
                """Ask the CRM for a token once the sale has reached it."""
                await wait_for(lambda: bool(crm_rows(
                    crm.db_path, "SELECT 1 FROM events WHERE json_extract(body,"
                    " '$.payload.sale_id') = ?", (sale_id,))), 20, f"sale {sale_id} at the CRM")
                answer: dict[str, Any] = await admin.call(
                    "POST", "/admin/exit-tokens", {"sale_id": sale_id}, expect=201)
                return answer

            async def keys() -> set[str]:
                rows = await app.store.fetchall("SELECT key_id FROM exit_keys")
                return {r["key_id"] for r in rows}

            async def synced(expected: set[str]) -> None:
                await wait_for(lambda: _same(keys, expected), 20, f"exit keys {expected}")

            first = await issue((await sell_one(app)).sale_id)
            early = await issue((await sell_one(app)).sale_id)
            assert (first["item_count"], first["amount_fen"], first["store_id"]) == (
                1, 200, "T01")
            key_a = first["key_id"]
            await synced({key_a})
            assert (await scan(app, first["token"], lane="9")).code == "exit_passed"
            assert (await scan(app, first["token"], lane="9")).data["reason"] == \
                "already_used"
            missing = await admin.call("POST", "/admin/exit-tokens", {"sale_id": "nope"},
                                       expect=404)
            assert missing["error"]["code"] == "not_found"

            # Rotation: a new key signs; the old one stays published, its tokens still pass.
            key_b = (await admin.call("POST", "/admin/exit-keys", {}, expect=201))["key_id"]
            second = await issue((await sell_one(app)).sale_id)
            third = await issue((await sell_one(app)).sale_id)
            assert second["key_id"] == third["key_id"] == key_b
            await synced({key_a, key_b})
            assert (await scan(app, early["token"], lane="9")).code == "exit_passed"
            assert (await scan(app, second["token"], lane="9")).code == "exit_passed"

            # Retiring a key (it leaked): its tokens stop passing with the next pull.
            await admin.call("DELETE", f"/admin/exit-keys/{key_b}", expect=200)
            await synced({key_a})
            refused = await scan(app, third["token"], lane="9")
            assert (refused.code, refused.data["reason"]) == ("exit_refused", "unknown_key")


async def _same(keys: Any, expected: set[str]) -> bool:
    return bool(await keys() == expected)

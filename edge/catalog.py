"""Products, members and promotions as the lanes read them from the local copy."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from .pricing import Promotion
from .store import Store


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    name: str
    name_en: str | None
    category: str
    price_fen: int
    """Per unit, or per kilogram when ``sold_by_weight``."""
    member_price_fen: int | None
    sold_by_weight: bool
    age_restricted: bool
    expected_weight_g: int | None
    weight_tolerance_g: int | None


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    name: str
    phone: str | None
    member_code: str | None
    tier: str
    points_balance: int
    stored_value_fen: int

    @property
    def phone_last4(self) -> str | None:
        return self.phone[-4:] if self.phone else None


_PRODUCT_COLUMNS = (
    "p.id, p.name, p.name_en, p.category, p.price_fen, p.member_price_fen, p.sold_by_weight,"
    " p.age_restricted, p.expected_weight_g, p.weight_tolerance_g"
)


def _product(row: sqlite3.Row) -> Product:
    return Product(
        id=row["id"],
        name=row["name"],
        name_en=row["name_en"],
        category=row["category"],
        price_fen=row["price_fen"],
        member_price_fen=row["member_price_fen"],
        sold_by_weight=bool(row["sold_by_weight"]),
        age_restricted=bool(row["age_restricted"]),
        expected_weight_g=row["expected_weight_g"],
        weight_tolerance_g=row["weight_tolerance_g"],
    )


def _member(row: sqlite3.Row) -> Member:
    return Member(
        id=row["id"],
        name=row["name"],
        phone=row["phone"],
        member_code=row["member_code"],
        tier=row["tier"],
        points_balance=row["points_balance"],
        stored_value_fen=row["stored_value_fen"],
    )


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def promotion_from_row(row: sqlite3.Row | dict[str, Any]) -> Promotion:
    """Build a pricing ``Promotion`` from a promotions row and its JSON body."""
    body = json.loads(row["body"])
    return Promotion(
        id=row["id"],
        kind=row["kind"],
        label=row["label"],
        product_ids=frozenset(body.get("product_ids", ())),
        categories=frozenset(body.get("categories", ())),
        percent_off=int(body.get("percent_off", 0)),
        buy_n=int(body.get("buy_n", 0)),
        get_m=int(body.get("get_m", 0)),
        threshold_fen=int(body.get("threshold_fen", 0)),
        off_fen=int(body.get("off_fen", 0)),
        repeatable=bool(body.get("repeatable", False)),
        max_times=body.get("max_times"),
        members_only=bool(body.get("members_only", False)),
        starts_at=_time(row["starts_at"]),
        ends_at=_time(row["ends_at"]),
        priority=int(row["priority"]),
    )


class Catalog:
    """Read-side queries over the local copy of the catalog and members."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._promotions: tuple[Promotion, ...] | None = None

    async def product_by_gtin(self, gtin: str) -> Product | None:
        return await self._product_by("gtin", gtin)

    async def product_by_item_code(self, item_code: str) -> Product | None:
        return await self._product_by("item", item_code)

    async def _product_by(self, kind: str, code: str) -> Product | None:
        # The column list is a constant; every value is a bound parameter.
        row = await self._store.fetchone(
            f"SELECT {_PRODUCT_COLUMNS} FROM barcodes b JOIN products p"  # noqa: S608
            " ON p.id = b.product_id"
            " WHERE b.kind = ? AND b.code = ? AND p.active = 1",
            (kind, code),
        )
        return _product(row) if row else None

    async def product(self, product_id: str) -> Product | None:
        row = await self._store.fetchone(
            f"SELECT {_PRODUCT_COLUMNS} FROM products p WHERE p.id = ?",  # noqa: S608
            (product_id,),
        )
        return _product(row) if row else None

    async def member_by_code(self, member_code: str) -> Member | None:
        row = await self._store.fetchone("SELECT * FROM members WHERE member_code = ?",
                                         (member_code,))
        return _member(row) if row else None

    async def member(self, member_id: str) -> Member | None:
        row = await self._store.fetchone("SELECT * FROM members WHERE id = ?", (member_id,))
        return _member(row) if row else None

    async def promotions(self) -> tuple[Promotion, ...]:
        """Return the active promotions; cached until ``invalidate`` (a change stream applied)."""
        if self._promotions is None:
            rows = await self._store.fetchall(
                "SELECT * FROM promotions WHERE active = 1 ORDER BY id"
            )
            self._promotions = tuple(promotion_from_row(r) for r in rows)
        return self._promotions

    def invalidate(self) -> None:
        self._promotions = None

    async def counts(self) -> dict[str, int]:
        row = await self._store.fetchone(
            "SELECT (SELECT count(*) FROM products) AS products,"
            " (SELECT count(*) FROM members) AS members,"
            " (SELECT count(*) FROM promotions WHERE active = 1) AS promotions"
        )
        return dict(row) if row else {}

"""What an aisle screen shows: products, promotions and coupons of its zone, by time of day.

Read from the local copy of the catalog, promotions and coupons (the CRM's change streams keep
it fresh; it survives a restart and works offline). ``build_slides`` is pure over those rows,
the screen's rules in force and the time. The last content of every zone is also kept in a
file, so a screen still shows something when the database cannot be read (safe mode).
Screens never identify anyone: nothing here reads members, faces or carts.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from .errors import EdgeError
from .screens_config import ALL, ScreenConfig, ScreenRules, SignageConfig
from .store import Store

_LOGGER = logging.getLogger(__name__)


def _active(row: dict[str, Any], now: dt.datetime, start: str, end: str) -> bool:
    starts, ends = row.get(start), row.get(end)
    return ((not starts or dt.datetime.fromisoformat(starts) <= now)
            and (not ends or now < dt.datetime.fromisoformat(ends)))


def claim_url(template: str, code: str, *, store: str, zone: str) -> str:
    """Fill the claim URL template; every value is URL-encoded."""
    values = {"code": code, "store": store, "zone": zone}
    return template.format_map({k: quote(v, safe="") for k, v in values.items()})


def _products(rules: ScreenRules, rows: Sequence[dict[str, Any]], limit: int) -> list[dict[str,
                                                                                          Any]]:
    by_id = {r["id"]: r for r in rows}
    chosen = [by_id[p] for p in rules.products if p in by_id]
    chosen += [r for r in rows if r["category"] in rules.categories and r not in chosen]
    return [{"kind": "product", "id": r["id"], "name": r["name"], "name_en": r["name_en"],
             "price_fen": r["price_fen"], "member_price_fen": r["member_price_fen"],
             "per_kg": bool(r["sold_by_weight"])} for r in chosen[:limit]]


def _promotions(rules: ScreenRules, rows: Sequence[dict[str, Any]], names: dict[str, str],
                now: dt.datetime) -> list[dict[str, Any]]:
    slides = []
    for row in rows:
        if rules.promotions != ALL and row["id"] not in rules.promotions:
            continue
        if not row["active"] or not _active(row, now, "starts_at", "ends_at"):
            continue
        body = json.loads(row["body"])
        slides.append({
            "kind": "promotion", "id": row["id"], "label": row["label"], "type": row["kind"],
            "threshold_fen": body.get("threshold_fen"), "off_fen": body.get("off_fen"),
            "buy_n": body.get("buy_n"), "get_m": body.get("get_m"),
            "percent_off": body.get("percent_off"),
            "members_only": bool(body.get("members_only", False)),
            "products": [names[p] for p in body.get("product_ids", []) if p in names][:4],
            "categories": list(body.get("categories", []))[:4],
            "ends_at": row["ends_at"]})
    return slides


def _coupons(rules: ScreenRules, rows: Sequence[dict[str, Any]], now: dt.datetime, *,
             template: str, store: str, zone: str) -> list[dict[str, Any]]:
    if not template:
        return []  # without a claim page a coupon cannot be claimed: not shown
    slides = []
    for row in rows:
        if rules.coupons != ALL and row["code"] not in rules.coupons:
            continue
        # Personal coupons belong to one member; a public screen shows only open ones.
        if row["member_id"] or row["redeemed_at"] or not _active(row, now, "valid_from",
                                                                 "valid_to"):
            continue
        body = json.loads(row["body"])
        slides.append({
            "kind": "coupon", "code": row["code"], "label": row["label"],
            "type": body.get("kind"), "off_fen": body.get("off_fen"),
            "threshold_fen": body.get("threshold_fen"), "percent_off": body.get("percent_off"),
            "valid_to": row["valid_to"],
            "claim_url": claim_url(template, row["code"], store=store, zone=zone)})
    return slides


def build_slides(screen: ScreenConfig, rules: ScreenRules, rows: dict[str, list[dict[str, Any]]],
                 *, now: dt.datetime, claim_template: str, store: str) -> list[dict[str, Any]]:
    """Return the zone's slides: products, then promotions, then coupons."""
    names = {r["id"]: r["name"] for r in rows["products"]}
    return [*_products(rules, rows["products"], screen.max_products),
            *_promotions(rules, rows["promotions"], names, now),
            *_coupons(rules, rows["coupons"], now, template=claim_template, store=store,
                      zone=screen.zone)]


def _read(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    def rows(sql: str) -> list[dict[str, Any]]:
        cur = conn.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    return {
        "products": rows("SELECT id, name, name_en, category, price_fen, member_price_fen,"
                         " sold_by_weight FROM products WHERE active = 1 ORDER BY id"),
        "promotions": rows("SELECT id, kind, label, body, active, starts_at, ends_at FROM"
                           " promotions ORDER BY priority DESC, id"),
        "coupons": rows("SELECT code, label, body, valid_from, valid_to, member_id, redeemed_at"
                        " FROM coupons ORDER BY code"),
    }


class ScreenContent:
    """Computes each zone's content from the local tables; falls back to its last copy."""

    def __init__(self, store: Store, signage: SignageConfig, *, store_id: str, timezone: str,
                 cache_dir: Path) -> None:
        self._store = store
        self.signage = signage
        self._store_id = store_id
        self._zone = ZoneInfo(timezone)
        self._cache_dir = cache_dir
        self._versions: dict[str, str] = {}

    async def compute(self, zone: str, now: dt.datetime | None = None) -> dict[str, Any]:
        """Return the zone's content now: rules in force, slides, and a version hash."""
        screen = self.signage.screen(zone)
        if screen is None:
            raise KeyError(zone)
        now = now or dt.datetime.now(dt.UTC)
        rules = screen.rules_at(now.astimezone(self._zone).time())
        try:
            rows = await self._store.read(_read)
        except (EdgeError, sqlite3.Error) as err:
            cached = await asyncio.to_thread(self._load, zone)
            if cached is None:
                raise
            _LOGGER.warning("Screen %s: showing its last content (%s)", zone, err)
            return {**cached, "stale": True}
        slides = build_slides(screen, rules, rows, now=now,
                              claim_template=self.signage.claim_url, store=self._store_id)
        version = hashlib.sha256(json.dumps(slides, sort_keys=True).encode()).hexdigest()[:16]
        content = {"zone": zone, "name": screen.name, "rotate_s": screen.rotate_s,
                   "slides": slides, "version": version, "stale": False}
        if self._versions.get(zone) != version:
            await asyncio.to_thread(self._save, zone, content)
            self._versions[zone] = version
        return content

    def _path(self, zone: str) -> Path:
        return self._cache_dir / f"{zone}.json"

    def _save(self, zone: str, content: dict[str, Any]) -> None:
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        partial = self._path(zone).with_suffix(".partial")
        partial.write_text(json.dumps(content, ensure_ascii=False), "utf-8")
        os.replace(partial, self._path(zone))   # a reader never sees half a file

    def _load(self, zone: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._path(zone).read_text("utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

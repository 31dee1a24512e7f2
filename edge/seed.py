"""The demo store: products with Chinese names, weighed fresh goods, members, promotions, coupons.

Written into an empty database by ``storeedge demo`` (``[demo] seed = true``) so the daemon has
something real-looking to sell. GTINs use the 690-699 prefix range with correct check digits.
"""

from __future__ import annotations

import base64
import json
import secrets
import sqlite3
from typing import Any

from .cart import utc_now


def gtin13(body12: str) -> str:
    """Append the GS1 check digit to 12 digits."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body12))
    return body12 + str((10 - total % 10) % 10)


# id, name, name_en, category, price_fen, member_price_fen, age_restricted, weight_g, body12
_PRODUCTS: list[tuple[str, str, str, str, int, int | None, bool, int | None, str]] = [
    ("P001", "农夫山泉 550ml", "Spring water 550ml", "饮料", 200, None, False, 570,
     "690123450001"),
    ("P002", "可口可乐 330ml", "Cola 330ml", "饮料", 350, None, False, 350, "690123450002"),
    ("P003", "康师傅冰红茶 500ml", "Iced black tea 500ml", "饮料", 300, None, False, 520,
     "690123450003"),
    ("P004", "元气森林气泡水", "Sparkling water 480ml", "饮料", 550, 480, False, 500,
     "690123450004"),
    ("P005", "东方树叶 500ml", "Unsweetened tea 500ml", "饮料", 500, None, False, 520,
     "690123450005"),
    ("P006", "伊利纯牛奶 250ml×12", "Whole milk 12 pack", "乳制品", 6500, 5900, False, 3200,
     "690123450006"),
    ("P007", "蒙牛酸奶 200g", "Yoghurt 200g", "乳制品", 450, 399, False, 215, "690123450007"),
    ("P008", "光明鲜牛奶 950ml", "Fresh milk 950ml", "乳制品", 1590, 1390, False, 1000,
     "690123450008"),
    ("P009", "奥利奥饼干 116g", "Cookies 116g", "零食", 890, None, False, 130, "690123450009"),
    ("P010", "乐事薯片 原味 70g", "Potato chips 70g", "零食", 750, None, False, 85,
     "690123450010"),
    ("P011", "旺旺雪饼 84g", "Rice crackers 84g", "零食", 650, None, False, 100,
     "690123450011"),
    ("P012", "三只松鼠 坚果礼盒", "Mixed nuts gift box", "零食", 12800, 9900, False, 1200,
     "690123450012"),
    ("P013", "德芙巧克力 43g", "Milk chocolate 43g", "零食", 990, None, False, 50,
     "690123450013"),
    ("P014", "五常大米 5kg", "Wuchang rice 5kg", "粮油", 6990, 5990, False, 5050,
     "690123450014"),
    ("P015", "金龙鱼花生油 1.8L", "Peanut oil 1.8L", "粮油", 4590, None, False, 1750,
     "690123450015"),
    ("P016", "海天酱油 500ml", "Soy sauce 500ml", "粮油", 1250, None, False, 620,
     "690123450016"),
    ("P017", "挂面 1kg", "Dried noodles 1kg", "粮油", 990, None, False, 1020, "690123450017"),
    ("P018", "鸡蛋 10枚装", "Eggs 10 pack", "生鲜", 1590, 1390, False, 620, "690123450018"),
    ("P019", "清风抽纸 3包", "Facial tissues 3 pack", "日用", 1290, None, False, 450,
     "690123450019"),
    ("P020", "蓝月亮洗衣液 2kg", "Laundry liquid 2kg", "日用", 3990, 3490, False, 2100,
     "690123450020"),
    ("P021", "高露洁牙膏 120g", "Toothpaste 120g", "日用", 1590, None, False, 150,
     "690123450021"),
    ("P022", "舒肤佳香皂 115g", "Soap 115g", "日用", 550, None, False, 125, "690123450022"),
    ("P023", "青岛啤酒 500ml", "Tsingtao beer 500ml", "酒类", 650, None, True, 520,
     "690123450023"),
    ("P024", "长城干红 750ml", "Red wine 750ml", "酒类", 8900, 7900, True, 1300,
     "690123450024"),
    ("P025", "二锅头 500ml", "Erguotou spirit 500ml", "酒类", 1800, None, True, 900,
     "690123450025"),
    ("P026", "中华香烟", "Cigarettes", "烟草", 4500, None, True, 30, "690123450026"),
    ("P027", "速冻水饺 1kg", "Frozen dumplings 1kg", "冷冻", 2590, 2290, False, 1020,
     "690123450027"),
    ("P028", "哈根达斯冰淇淋", "Ice cream 100ml", "冷冻", 3500, None, False, 110,
     "690123450028"),
    ("P029", "一次性购物袋 大", "Shopping bag large", "日用", 30, None, False, 8,
     "690123450029"),
    ("P030", "雀巢咖啡 1+2 15条", "Instant coffee 15 sticks", "饮料", 2990, 2590, False, 260,
     "690123450030"),
]

# id, name, name_en, price per kg in fen, member price per kg, 5-digit in-store item code
_WEIGHED: list[tuple[str, str, str, int, int | None, str]] = [
    ("F001", "红富士苹果", "Fuji apples", 1280, 1080, "10001"),
    ("F002", "香蕉", "Bananas", 698, None, "10002"),
    ("F003", "西红柿", "Tomatoes", 598, None, "10003"),
    ("F004", "五花肉", "Pork belly", 3580, 3280, "20001"),
    ("F005", "鸡胸肉", "Chicken breast", 2580, None, "20002"),
    ("F006", "散装大米", "Loose rice", 580, None, "30001"),
    ("F007", "车厘子", "Cherries", 9800, 8800, "10004"),
    ("F008", "基围虾", "Shrimp", 8800, None, "20003"),
]

_MEMBERS = [
    ("M0001", "张伟", "13800138000", "10000001", "gold", 1280, 20000),
    ("M0002", "王芳", "13900139000", "10000002", "standard", 230, 0),
    ("M0003", "李娜", "13700137000", "10000003", "silver", 560, 5000),
    ("M0004", "刘洋", "13600136000", "10000004", "standard", 0, 0),
]

_PROMOTIONS: list[tuple[str, str, str, dict[str, Any], int]] = [
    ("PROMO-MJ100", "threshold", "满100减20", {"threshold_fen": 10000, "off_fen": 2000}, 10),
    ("PROMO-DRINK-B2G1", "buy_n_get_m", "饮料买二送一",
     {"buy_n": 2, "get_m": 1, "product_ids": ["P001", "P002", "P003"]}, 20),
    ("PROMO-SNACK-90", "item_percent", "零食9折", {"percent_off": 10, "categories": ["零食"]},
     5),
]

_COUPONS: list[tuple[str, str, dict[str, Any]]] = [
    ("WELCOME10", "新会员满50减10", {"kind": "cash_off", "off_fen": 1000, "threshold_fen": 5000}),
    ("MILK95", "乳制品95折", {"kind": "percent", "percent_off": 5, "categories": ["乳制品"]}),
]


# Coupons issued after payment (支付后发券): one for the shopper's next visit, one to share.
# Rules come from the CRM: `storeedge demo` puts these into its CRM (sync.demo), not here.
DEMO_COUPON_RULES: list[tuple[str, str, dict[str, Any], int]] = [
    ("RULE-NEXT-VISIT", "满80送下次券", {
        "min_total_fen": 8000, "valid_days": 30, "coupon_label": "下次满30减5",
        "coupon": {"kind": "cash_off", "off_fen": 500, "threshold_fen": 3000}}, 10),
    ("RULE-SHARE", "满80送好友券", {
        "min_total_fen": 8000, "shareable": True, "valid_days": 7,
        "coupon_label": "好友专享满20减5",
        "coupon": {"kind": "cash_off", "off_fen": 500, "threshold_fen": 2000}}, 5),
]

# Shop guides (导购); their personal codes are GD<id>.
_GUIDES = [("G001", "陈静"), ("G002", "赵磊")]


def demo_barcodes() -> dict[str, str]:
    """Return product id -> EAN-13 of the demo's packaged goods."""
    return {p[0]: gtin13(p[8]) for p in _PRODUCTS}


def demo_age_restricted() -> frozenset[str]:
    """Return the ids of the demo's age-restricted products (a kiosk locks for an age check)."""
    return frozenset(p[0] for p in _PRODUCTS if p[6])


def seed_demo(conn: sqlite3.Connection) -> bool:
    """Fill an empty database with the demo store; return False when it already had data."""
    if conn.execute("SELECT 1 FROM products LIMIT 1").fetchone():
        return False
    now = utc_now()
    for pid, name, name_en, cat, price, member, adult, weight, body in _PRODUCTS:
        conn.execute(
            "INSERT INTO products (id, name, name_en, category, price_fen, member_price_fen,"
            " age_restricted, expected_weight_g, weight_tolerance_g, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (pid, name, name_en, cat, price, member, int(adult), weight,
             max(10, weight // 20) if weight else None, now),
        )
        conn.execute("INSERT INTO barcodes VALUES (?, 'gtin', ?)", ("0" + gtin13(body), pid))
    for pid, name, name_en, per_kg, member, item in _WEIGHED:
        conn.execute(
            "INSERT INTO products (id, name, name_en, category, price_fen, member_price_fen,"
            " sold_by_weight, updated_at) VALUES (?, ?, ?, '生鲜', ?, ?, 1, ?)",
            (pid, name, name_en, per_kg, member, now),
        )
        conn.execute("INSERT INTO barcodes VALUES (?, 'item', ?)", (item, pid))
    for mid, name, phone, code, tier, points, stored in _MEMBERS:
        # The rotating member code's seed; once paired, the CRM's seed from the members
        # stream replaces it (the CRM is the authority on seeds).
        seed = base64.b32encode(secrets.token_bytes(20)).decode()
        conn.execute("INSERT INTO members (id, name, phone, member_code, tier, points_balance,"
                     " stored_value_fen, code_seed, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     (mid, name, phone, code, tier, points, stored, seed, now))
    for promo_id, kind, label, rule, priority in _PROMOTIONS:
        conn.execute(
            "INSERT INTO promotions (id, kind, label, body, priority, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (promo_id, kind, label, json.dumps(rule, ensure_ascii=False), priority, now),
        )
    for code, label, rule in _COUPONS:
        conn.execute("INSERT INTO coupons (code, label, body, updated_at) VALUES (?, ?, ?, ?)",
                     (code, label, json.dumps(rule, ensure_ascii=False), now))
    conn.executemany("INSERT INTO guides (id, name, updated_at) VALUES (?, ?, ?)",
                     [(gid, name, now) for gid, name in _GUIDES])
    conn.execute("INSERT OR REPLACE INTO meta VALUES ('seeded', ?)", (now,))
    return True

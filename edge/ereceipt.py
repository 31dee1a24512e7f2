"""The e-receipt QR: a link to the chain's e-invoice request page (电子发票) for one sale.

The link comes from the ``[checkout] ereceipt_url`` template with the store, the sale id and
the amount filled in, and an HMAC-SHA256 of them under a key the appliance shares with the
e-invoice service, so nobody can change the amount or ask for an invoice of a sale that did
not happen. The key is a file in the state directory (created with mode 0600 when missing);
the chain installs its own so its service can check the links.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
from pathlib import Path
from urllib.parse import quote, unquote

_LOGGER = logging.getLogger(__name__)
KEY_BYTES = 32
_SIG_BYTES = 16


def signature(key: bytes, store: str, sale_id: str, amount_fen: int) -> str:
    """Return the link's signature over the store, the sale and the amount."""
    message = f"ereceipt|{store}|{sale_id}|{amount_fen}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()[:_SIG_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def receipt_url(template: str, key: bytes, *, store: str, sale_id: str, amount_fen: int,
                receipt_no: int, lane: str) -> str:
    """Fill the template for one sale, signed."""
    values = {"store": store, "sale_id": sale_id, "amount_fen": str(amount_fen),
              "receipt_no": str(receipt_no), "lane": lane,
              "sig": signature(key, store, sale_id, amount_fen)}
    return re.sub(r"{([a-z_]+)}", lambda m: quote(values[m.group(1)], safe=""), template)


def parse_url(template: str, url: str) -> dict[str, str] | None:
    """Read the values back out of a link made from ``template`` (None if it is not one)."""
    pattern, names = "", []
    for literal, name in re.findall(r"([^{}]*)(?:{([a-z_]+)})?", template):
        pattern += re.escape(literal)
        if name:
            pattern += "([^&/?#]*)"
            names.append(name)
    match = re.fullmatch(pattern, url)
    if match is None:
        return None
    return {name: unquote(value) for name, value in zip(names, match.groups(), strict=True)}


def verify_url(template: str, key: bytes, url: str) -> dict[str, str] | None:
    """Return the link's values when its signature is right (what the e-invoice side does)."""
    values = parse_url(template, url)
    if values is None or not values.get("amount_fen", "").isdigit():
        return None
    expected = signature(key, values["store"], values["sale_id"], int(values["amount_fen"]))
    return values if hmac.compare_digest(expected, values.get("sig", "")) else None


def load_key(path: Path) -> bytes:
    """Return the shared key, creating a random one (mode 0600) when the file is missing."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = secrets.token_bytes(KEY_BYTES)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        _LOGGER.warning("Created a new e-receipt key in %s: give the same file to the "
                        "e-invoice service, or install the chain's key there", path)
        return data
    if len(data) < 16:
        raise ValueError(f"{path}: an e-receipt key needs at least 16 bytes")
    if path.stat().st_mode & 0o077:
        raise ValueError(f"{path}: the e-receipt key must not be readable by others "
                         f"(chmod 600 {path})")
    return data

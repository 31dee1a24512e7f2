"""Scan-and-go exit tokens: Ed25519-signed claims about a paid sale, checked offline.

A token is ``base64url(payload) "." base64url(signature)``, scanned as ``EXIT.<token>``. The
payload is ASCII, ``|``-separated::

    1|<key id>|<store>|<sale id>|<issued at>|<expires at>|<item count>|<amount fen>

with times in Unix seconds. The signature is Ed25519 (RFC 8032) over a fixed domain line
followed by the payload, so a signature made for anything else never verifies here. The key
id is the first 6 bytes of the SHA-256 of the raw public key (8 base64url characters), which
lets the exit station pick the key without trying each one.

Why not a JWT or PASETO: the token travels through keyboard-wedge scanners and the scan
router's 256-character limit, and JSON claims with their headers do not fit; with a 32-hex
sale id this format is about 200 characters (240 with a 32-character store id), and it only
uses characters every keyboard layout types the same way. Sale ids near the 64-character
maximum need ``[scan] max_length`` raised to 300.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

VERSION = "1"
DOMAIN = b"storeedge exit token v1\n"
MAX_TOKEN = 400
MAX_TTL_S = 7 * 86_400
_B64 = re.compile(r"[A-Za-z0-9_-]+")
_FIELDS = (
    re.compile(r"1"),                       # version
    re.compile(r"[A-Za-z0-9_-]{8}"),        # key id
    re.compile(r"[A-Za-z0-9_-]{1,32}"),     # store
    re.compile(r"[A-Za-z0-9_.-]{1,64}"),    # sale id
    re.compile(r"[0-9]{1,12}"),             # issued at
    re.compile(r"[0-9]{1,12}"),             # expires at
    re.compile(r"[0-9]{1,6}"),              # item count
    re.compile(r"[0-9]{1,12}"),             # amount in fen
)


@dataclass(frozen=True, slots=True)
class ExitClaims:
    key_id: str
    store_id: str
    sale_id: str
    issued_at: int
    expires_at: int
    item_count: int
    amount_fen: int

    def payload(self) -> bytes:
        return "|".join((VERSION, self.key_id, self.store_id, self.sale_id,
                         str(self.issued_at), str(self.expires_at), str(self.item_count),
                         str(self.amount_fen))).encode("ascii")


class ExitTokenRefused(Exception):
    """A token that does not let the shopper out; ``reason`` is a stable code."""

    def __init__(self, reason: str, message: str, claims: ExitClaims | None = None) -> None:
        super().__init__(message)
        self.reason, self.message, self.claims = reason, message, claims


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64url(text: str) -> bytes:
    """Decode strict, canonical base64url without padding; raise ``ValueError``."""
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as err:
        raise ValueError(str(err)) from None
    if b64url(data) != text:
        raise ValueError("not canonical base64url")
    return data


def key_id(public_key: Ed25519PublicKey) -> str:
    """Return the 8-character id of a public key."""
    return b64url(hashlib.sha256(public_key.public_bytes_raw()).digest()[:6])


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    """Load a raw 32-byte Ed25519 public key sent as base64url; raise ``ValueError``."""
    raw = _unb64url(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign_token(private_key: Ed25519PrivateKey, claims: ExitClaims) -> str:
    """Return the token for ``claims`` (without the ``EXIT.`` scan prefix)."""
    if claims.key_id != key_id(private_key.public_key()):
        raise ValueError("the claims name another key")
    if parse_payload(claims.payload()) != claims:
        raise ValueError("claims outside the token's field formats")
    payload = claims.payload()
    return f"{b64url(payload)}.{b64url(private_key.sign(DOMAIN + payload))}"


def parse_payload(payload: bytes) -> ExitClaims:
    """Read a payload's fields; raise ``ValueError`` unless each one has its format."""
    try:
        fields = payload.decode("ascii").split("|")
    except UnicodeDecodeError:
        raise ValueError("payload is not ASCII") from None
    if len(fields) != len(_FIELDS) or not all(
            p.fullmatch(f) for p, f in zip(_FIELDS, fields, strict=True)):
        raise ValueError("payload fields do not have their formats")
    return ExitClaims(fields[1], fields[2], fields[3], int(fields[4]), int(fields[5]),
                      int(fields[6]), int(fields[7]))


def verify_token(token: str, keys: Mapping[str, Ed25519PublicKey], *, store_id: str,
                 now: float, skew_s: float) -> ExitClaims:
    """Return the claims of a token this store must honour now; raise ``ExitTokenRefused``."""
    if len(token) > MAX_TOKEN or token.count(".") != 1:
        raise ExitTokenRefused("malformed", "not an exit token")
    head, tail = token.split(".")
    try:
        payload, signature = _unb64url(head), _unb64url(tail)
        claims = parse_payload(payload)
    except ValueError as err:
        raise ExitTokenRefused("malformed", f"not an exit token: {err}") from None
    key = keys.get(claims.key_id)
    if key is None:
        raise ExitTokenRefused("unknown_key", f"signed with key {claims.key_id}, which this "
                               "store does not know (forged, or keys not synced)", claims)
    try:
        key.verify(signature, DOMAIN + payload)
    except InvalidSignature:
        raise ExitTokenRefused("bad_signature", "the signature does not verify: forged or "
                               "altered", claims) from None
    if claims.store_id != store_id:
        raise ExitTokenRefused("other_store", f"issued for store {claims.store_id}", claims)
    if not 0 < claims.expires_at - claims.issued_at <= MAX_TTL_S:
        raise ExitTokenRefused("malformed", "validity period out of bounds", claims)
    if claims.issued_at > now + skew_s:
        raise ExitTokenRefused("not_yet_valid", "issued in the future: check the clock",
                               claims)
    if claims.expires_at + skew_s < now:
        raise ExitTokenRefused("expired", "expired", claims)
    return claims

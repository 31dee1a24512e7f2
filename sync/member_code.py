"""The rotating member code (动态会员码): one algorithm for the edge, the CRM and the tools.

A member's phone shows a QR with ``MC<member_id>.<otp>`` (the ``MC`` prefix is the scan
router's member prefix; the edge sees the payload ``<member_id>.<otp>``). The one-time
password is RFC 6238 TOTP as ``cryptography`` implements it: HMAC-SHA1 over the 60 s step
number, keyed with the member's base32 ``code_seed`` from the members stream, 8 digits.

``check`` tells the three answers a screen needs apart: the code is good now (within the
drift window, and the step it matched is returned so the caller can refuse it the second
time), it was good a while ago (expired: the member shows a screenshot or an old screen),
or it never was this member's code. Pure functions over values, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

DIGITS = 8
STEP_S = 60
DRIFT_STEPS = 1
EXPIRED_LOOKBACK_STEPS = 120     # a code up to two hours old reads "expired", not "unknown"
PAYLOAD = re.compile(r"(?P<member>[A-Za-z0-9_-]{1,48})\.(?P<otp>[0-9]{6,10})")


class BadSeed(ValueError):
    """The member's seed is not usable base32 (the CRM sent something else)."""


@dataclass(frozen=True, slots=True)
class CodeCheck:
    outcome: Literal["ok", "expired", "invalid"]
    step: int | None = None
    """The step the code was made for, when it was ever this member's."""


def _totp(seed_b32: str, step_s: int) -> TOTP:
    try:
        key = base64.b32decode(seed_b32 + "=" * (-len(seed_b32) % 8), casefold=False)
    except (binascii.Error, ValueError):
        raise BadSeed("the member-code seed is not base32") from None
    if len(key) < 10:
        raise BadSeed("the member-code seed is shorter than 80 bits")
    # Seeds are the CRM's (the reference CRM makes 160-bit ones); the stream allows 80 bits.
    # HMAC-SHA1 is RFC 6238's own; HMAC does not rest on SHA-1's collision resistance.
    return TOTP(key, DIGITS, SHA1(), step_s, enforce_key_length=False)  # noqa: S303


def step_of(unix_s: float, step_s: int = STEP_S) -> int:
    return int(unix_s // step_s)


def otp_at(seed_b32: str, step: int, step_s: int = STEP_S) -> str:
    """Return the one-time password of ``step``."""
    return _totp(seed_b32, step_s).generate(step * step_s).decode("ascii")


def code_for(member_id: str, seed_b32: str, unix_s: float, step_s: int = STEP_S) -> str:
    """Return the whole scannable text of the member's code at ``unix_s`` (with ``MC``)."""
    return f"MC{member_id}.{otp_at(seed_b32, step_of(unix_s, step_s), step_s)}"


def parse_payload(payload: str) -> tuple[str, str] | None:
    """Split a member-code payload into (member id, otp); None when it is not a rotating code."""
    match = PAYLOAD.fullmatch(payload)
    return (match["member"], match["otp"]) if match else None


def check(seed_b32: str, otp: str, unix_s: float, *, step_s: int = STEP_S,
          drift_steps: int = DRIFT_STEPS,
          lookback_steps: int = EXPIRED_LOOKBACK_STEPS) -> CodeCheck:
    """Say whether ``otp`` is the member's code now, was once, or never was."""
    totp = _totp(seed_b32, step_s)
    now = step_of(unix_s, step_s)
    given = otp.encode("ascii")

    def matches(step: int) -> bool:
        return hmac.compare_digest(totp.generate(step * step_s), given)

    # Newest first, so a clock a step ahead still reports the step it was made for.
    for step in range(now + drift_steps, now - drift_steps - 1, -1):
        if matches(step):
            return CodeCheck("ok", step)
    for step in range(now - drift_steps - 1, now - drift_steps - 1 - lookback_steps, -1):
        if matches(step):
            return CodeCheck("expired", step)
    return CodeCheck("invalid")

"""Exit tokens, fed values: a real one verifies; forged, altered, expired, early and other
stores' tokens are refused with their reason; no input crashes the check."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config import load_config
from edge.exit_tokens import (
    DOMAIN,
    ExitClaims,
    ExitTokenRefused,
    b64url,
    key_id,
    parse_payload,
    public_key_from_b64,
    sign_token,
    verify_token,
)
from edge.scan_router import ExitTokenScan, route

KEY = Ed25519PrivateKey.generate()
KID = key_id(KEY.public_key())
KEYS = {KID: KEY.public_key()}
NOW = 1_760_000_000
CLAIMS = ExitClaims(KID, "T01", uuid.uuid4().hex, NOW, NOW + 900, 3, 12_345)


def check(token: str, *, now: float = NOW + 60, store: str = "T01") -> ExitClaims:
    return verify_token(token, KEYS, store_id=store, now=now, skew_s=120)


def refusal(token: str, **kwargs: object) -> str:
    with pytest.raises(ExitTokenRefused) as err:
        check(token, **kwargs)  # type: ignore[arg-type]
    return err.value.reason


def test_a_token_signed_by_a_known_key_verifies_and_fits_a_scanner() -> None:
    token = sign_token(KEY, CLAIMS)
    assert check(token) == CLAIMS
    assert len("EXIT." + token) <= 256
    routed = route("EXIT." + token, load_config(None).scan)
    assert isinstance(routed, ExitTokenScan) and routed.token == token


def test_key_ids_round_trip_through_the_stream_format() -> None:
    raw = b64url(KEY.public_key().public_bytes_raw())
    assert len(raw) == 43 and key_id(public_key_from_b64(raw)) == KID
    with pytest.raises(ValueError, match="32 bytes"):
        public_key_from_b64(b64url(b"short"))


def test_an_altered_amount_or_count_breaks_the_signature() -> None:
    signature = sign_token(KEY, CLAIMS).split(".")[1]
    for change in ({"amount_fen": 1}, {"item_count": 1}, {"expires_at": NOW + 86_400}):
        altered = dataclasses.replace(CLAIMS, **change)  # type: ignore[arg-type]
        assert refusal(f"{b64url(altered.payload())}.{signature}") == "bad_signature"


def test_a_token_from_a_key_the_store_does_not_know_is_refused() -> None:
    stranger = Ed25519PrivateKey.generate()
    token = sign_token(stranger, dataclasses.replace(CLAIMS, key_id=key_id(stranger.public_key())))
    assert refusal(token) == "unknown_key"


def test_a_forger_who_copies_the_key_id_still_fails() -> None:
    stranger = Ed25519PrivateKey.generate()
    payload = CLAIMS.payload()   # names our key id
    forged = f"{b64url(payload)}.{b64url(stranger.sign(DOMAIN + payload))}"
    assert refusal(forged) == "bad_signature"


def test_expiry_and_issue_time_allow_only_the_configured_skew() -> None:
    token = sign_token(KEY, CLAIMS)
    assert check(token, now=NOW + 900 + 120) == CLAIMS
    assert refusal(token, now=NOW + 900 + 121) == "expired"
    assert check(token, now=NOW - 120) == CLAIMS
    assert refusal(token, now=NOW - 121) == "not_yet_valid"


def test_a_token_for_another_store_is_refused() -> None:
    other = sign_token(KEY, dataclasses.replace(CLAIMS, store_id="T02"))
    assert refusal(other) == "other_store"


def test_a_token_valid_for_more_than_a_week_is_refused() -> None:
    long_lived = sign_token(KEY, dataclasses.replace(CLAIMS, expires_at=NOW + 8 * 86_400))
    assert refusal(long_lived) == "malformed"


@pytest.mark.parametrize("token", [
    "", ".", "a.b.c", "!!!.???", "AAAA.AAAA", "A" * 500, b64url(b"1|x") + "." + b64url(b"s"),
    b64url("1|好|T01|x|1|2|3|4".encode()) + "." + b64url(bytes(64)),
    b64url(b"1|ABCDEFGH|T01|s|0012|9|3|4|extra") + "." + b64url(bytes(64)),
])
def test_garbage_is_malformed(token: str) -> None:
    assert refusal(token) == "malformed"


def test_non_canonical_base64_is_refused() -> None:
    payload, signature = sign_token(KEY, CLAIMS).split(".")
    # The last character of a 64-byte signature carries 2 spare bits; setting them changes
    # the text but not the bytes: such a token was not made by us.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twisted = signature[:-1] + alphabet[alphabet.index(signature[-1]) | 1]
    assert refusal(f"{payload}.{twisted}") == "malformed"


def test_claims_outside_the_formats_cannot_be_signed() -> None:
    with pytest.raises(ValueError, match="formats"):
        sign_token(KEY, dataclasses.replace(CLAIMS, store_id="T|01"))
    with pytest.raises(ValueError, match="another key"):
        sign_token(KEY, dataclasses.replace(CLAIMS, key_id="AAAAAAAA"))
    assert parse_payload(CLAIMS.payload()) == CLAIMS


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.text(max_size=400),
    st.text(alphabet="ABCDEFabcdef0123456789-_.", max_size=400),
    st.builds(lambda a, b: f"{b64url(a)}.{b64url(b)}", st.binary(max_size=200),
              st.binary(max_size=80)),
    st.builds(lambda fields: b64url("|".join(fields).encode()) + "." + b64url(bytes(64)),
              st.lists(st.text(max_size=20), max_size=10)),
))
def test_no_input_crashes_the_check(token: str) -> None:
    try:
        check(token)
    except ExitTokenRefused as err:
        assert err.reason in {"malformed", "unknown_key", "bad_signature"}
        assert err.message

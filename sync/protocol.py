"""The wire protocol without I/O: request signing, the replay window, batch encoding, limits.

Both ends use these functions, so the edge and the reference CRM cannot disagree about a
canonical string or a size limit. Everything here is a plain function over values.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PROTOCOL = "storeedge-sync/1"
SIGNATURE_SCHEME = "STOREEDGE-HMAC-SHA256-V1"

HEADER_DEVICE = "X-StoreEdge-Device"
HEADER_TIMESTAMP = "X-StoreEdge-Timestamp"      # Unix time in milliseconds
HEADER_NONCE = "X-StoreEdge-Nonce"
HEADER_SIGNATURE = "X-StoreEdge-Signature"      # "v1=" + lowercase hex HMAC-SHA256
HEADER_IDEMPOTENCY = "Idempotency-Key"

# Limits both ends enforce. A request or response over a limit is refused, never truncated.
MAX_REQUEST_BYTES = 8 * 1024 * 1024         # a request body as sent (gzip)
MAX_DECODED_BYTES = 64 * 1024 * 1024        # ... and once decompressed
MAX_BATCH_EVENTS = 5_000
MAX_PAYLOAD_BYTES = 256 * 1024              # one event's payload as JSON
REPLAY_WINDOW_MS = 300_000                  # a signed request is valid +- 5 minutes

DEVICE_KEY = re.compile(r"[A-Za-z0-9_-]{1,32}:[A-Za-z0-9_-]{1,32}")
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
TIMESTAMP = re.compile(r"[0-9]{1,16}")
SIGNATURE = re.compile(r"v1=[0-9a-f]{64}")


class ProtocolError(ValueError):
    """Bytes that do not follow the protocol (bad JSON, too large, bad encoding)."""


class AuthError(ValueError):
    """A request whose signature, timestamp or nonce is refused; ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        self.code, self.message = code, message
        super().__init__(f"{code}: {message}")


# -- signing ---------------------------------------------------------------------------------

def body_sha256(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_request(method: str, path: str, *, timestamp_ms: int, nonce: str, device: str,
                      idempotency_key: str, body_hash: str) -> bytes:
    """Return the exact bytes that are signed: one field per line, in this order.

    ``path`` is the request target as sent on the wire: path and query, percent-encoded.
    """
    return "\n".join((SIGNATURE_SCHEME, method.upper(), path, str(timestamp_ms), nonce, device,
                      idempotency_key, body_hash)).encode("utf-8")


def sign(secret: bytes, canonical: bytes) -> str:
    return "v1=" + hmac.new(secret, canonical, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


def signed_headers(secret: bytes, device: str, method: str, path: str, body: bytes, *,
                   timestamp_ms: int, idempotency_key: str = "",
                   nonce: str | None = None) -> dict[str, str]:
    """Return the headers that authenticate one request."""
    nonce = nonce or new_nonce()
    canonical = canonical_request(method, path, timestamp_ms=timestamp_ms, nonce=nonce,
                                  device=device, idempotency_key=idempotency_key,
                                  body_hash=body_sha256(body))
    headers = {HEADER_DEVICE: device, HEADER_TIMESTAMP: str(timestamp_ms), HEADER_NONCE: nonce,
               HEADER_SIGNATURE: sign(secret, canonical)}
    if idempotency_key:
        headers[HEADER_IDEMPOTENCY] = idempotency_key
    return headers


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """The authentication fields of a request, parsed and shape-checked."""

    device: str
    timestamp_ms: int
    nonce: str
    signature: str
    idempotency_key: str


def parse_auth_headers(headers: Mapping[str, str]) -> SignedRequest:
    """Check the presence and shape of the authentication headers; raise ``AuthError``."""
    device = headers.get(HEADER_DEVICE, "")
    stamp = headers.get(HEADER_TIMESTAMP, "")
    nonce = headers.get(HEADER_NONCE, "")
    signature = headers.get(HEADER_SIGNATURE, "")
    idem = headers.get(HEADER_IDEMPOTENCY, "")
    if not DEVICE_KEY.fullmatch(device):
        raise AuthError("bad_device", f"missing or malformed {HEADER_DEVICE}")
    if not TIMESTAMP.fullmatch(stamp):
        raise AuthError("bad_timestamp", f"missing or malformed {HEADER_TIMESTAMP}")
    if not NONCE.fullmatch(nonce):
        raise AuthError("bad_nonce", f"missing or malformed {HEADER_NONCE}")
    if not SIGNATURE.fullmatch(signature):
        raise AuthError("bad_signature", f"missing or malformed {HEADER_SIGNATURE}")
    if idem and not IDEMPOTENCY_KEY.fullmatch(idem):
        raise AuthError("bad_idempotency_key", f"malformed {HEADER_IDEMPOTENCY}")
    return SignedRequest(device, int(stamp), nonce, signature, idem)


def check_timestamp(timestamp_ms: int, now_ms: int, window_ms: int = REPLAY_WINDOW_MS) -> None:
    """Refuse a request signed outside the replay window (an old capture, or a bad clock)."""
    if abs(now_ms - timestamp_ms) > window_ms:
        raise AuthError("expired", f"timestamp is {(now_ms - timestamp_ms) / 1000:.0f} s off "
                        f"the server clock (window +-{window_ms // 1000} s)")


def verify_signature(secret: bytes, method: str, path: str, body: bytes,
                     auth: SignedRequest) -> None:
    """Raise ``AuthError`` unless ``auth.signature`` signs exactly this request."""
    canonical = canonical_request(method, path, timestamp_ms=auth.timestamp_ms,
                                  nonce=auth.nonce, device=auth.device,
                                  idempotency_key=auth.idempotency_key,
                                  body_hash=body_sha256(body))
    if not hmac.compare_digest(sign(secret, canonical), auth.signature):
        raise AuthError("bad_signature", "signature does not match the request")


# -- bodies ----------------------------------------------------------------------------------

PUSH_CONTENT_TYPE = "application/x-ndjson"
_PLAIN = re.compile(r"[A-Za-z0-9_.:+-]*")


def encode_events(rows: Sequence[tuple[int, str, str, str, str]]) -> bytes:
    """Return a push body (before gzip): one event per line, from outbox rows.

    Rows are (seq, event_id, type, occurred_at, payload JSON). The payload column already holds
    compact JSON written by ``append_outbox``; it is spliced in as it is rather than parsed
    and dumped again, so a line sent twice is the same bytes, which is what the CRM compares.
    """
    lines = []
    for seq, eid, kind, at, payload in rows:
        if not (_PLAIN.fullmatch(eid) and _PLAIN.fullmatch(kind) and _PLAIN.fullmatch(at)):
            raise ProtocolError(f"outbox row {seq} has an unusable id, type or time")
        lines.append(f'{{"event_id":"{eid}","seq":{seq},"type":"{kind}",'
                     f'"occurred_at":"{at}","payload":{payload}}}')
    return "\n".join(lines).encode("utf-8")


def gzip_body(raw: bytes, level: int = 1) -> bytes:
    """Compress a body (level 1: most of gzip's gain on JSON at a fraction of the cost)."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, 31)
    return compressor.compress(raw) + compressor.flush()


def decode_body(body: bytes, content_encoding: str | None, max_bytes: int) -> bytes:
    """Undo ``Content-Encoding`` (identity or gzip) without ever holding more than ``max_bytes``."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "identity":
        if len(body) > max_bytes:
            raise ProtocolError(f"body larger than {max_bytes} bytes")
        return body
    if encoding != "gzip":
        raise ProtocolError(f"unsupported Content-Encoding {content_encoding!r}")
    inflater = zlib.decompressobj(31)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as err:
        raise ProtocolError(f"gzip body is damaged: {err}") from None
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise ProtocolError(f"body inflates beyond {max_bytes} bytes")
    if not inflater.eof:
        raise ProtocolError("gzip body is truncated")
    return out


def _no_constants(name: str) -> Any:
    raise ProtocolError(f"JSON constant {name} is not allowed")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ProtocolError("JSON object repeats a key")
    return out


def loads_strict(raw: bytes | str, *, unique_keys: bool = True) -> Any:
    """Parse JSON strictly: UTF-8, no NaN/Infinity, no repeated keys, bounded nesting.

    ``unique_keys=False`` skips the repeated-key check (a Python call per object, a third of
    the parse) where the cost matters: event lines, which the CRM stores as sent.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        if unique_keys:
            return json.loads(text, parse_constant=_no_constants, object_pairs_hook=_unique_keys)
        return json.loads(text, parse_constant=_no_constants)
    except UnicodeDecodeError:
        raise ProtocolError("body is not UTF-8") from None
    except json.JSONDecodeError as err:
        raise ProtocolError(f"body is not JSON: {err.msg} at {err.pos}") from None
    except RecursionError:
        raise ProtocolError("JSON nests too deeply") from None


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

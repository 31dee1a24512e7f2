"""The provider interface every wallet client implements, its outcomes and its retry policy.

A provider call ends in one of two ways:

- an *answer*: a value below (``Paid``, ``UserPaying``, ``Declined``, ``Closed``, ``NotFound``,
  ``Reversed``), which the provider signed and we verified;
- an *exception*: ``OutcomeUnknown`` and its subclasses when the money may or may not have
  moved (timeouts, garbage, bad signatures, provider busy) — the one retryable class: the
  caller queries the order, it never repeats the payment blindly; ``NotDelivered`` when the
  request provably never left (connection refused): nothing can have been charged;
  ``ReverseRefused`` when the provider will not reverse an order (e.g. too old).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from ..errors import EdgeError

ProviderName = Literal["wechat", "alipay"]
PROVIDERS: tuple[ProviderName, ...] = ("wechat", "alipay")


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """What one payment asks for. ``auth_code`` lives only in memory, never on disk."""

    out_trade_no: str
    amount_fen: int
    auth_code: str
    description: str


# -- answers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Paid:
    transaction_id: str
    amount_fen: int
    payer_id: str | None = None
    """The provider's id of who paid (WeChat openid, Alipay buyer_user_id), when it said."""


@dataclass(frozen=True, slots=True)
class UserPaying:
    """The shopper must confirm on the phone (password, large amount); ask again later."""


@dataclass(frozen=True, slots=True)
class Declined:
    """The provider refused the payment for good; nothing was charged."""

    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class Closed:
    """The order exists and was not paid, or was closed/revoked/refunded.

    ``needs_reverse``: the provider asks us to reverse it (WeChat's PAYERROR).
    """

    reason: str
    detail: str
    needs_reverse: bool = False


@dataclass(frozen=True, slots=True)
class NotFound:
    """The provider has no order with this number (the request may still be on its way)."""


@dataclass(frozen=True, slots=True)
class Reversed:
    """The order is closed; anything charged was returned."""

    detail: str


PayAnswer = Paid | UserPaying | Declined
QueryAnswer = Paid | UserPaying | Closed | NotFound


# -- exceptions and the retry policy --------------------------------------------------------


class PaymentError(EdgeError):
    """Base of every payment failure."""

    reason = "provider_error"


class OutcomeUnknown(PaymentError):
    """Retryable: the money may or may not have moved. Query the order, then reverse."""


class ProviderUnreachable(OutcomeUnknown):
    """No answer in time, or the connection broke after the request was sent."""

    reason = "provider_timeout"


class ProviderGarbage(OutcomeUnknown):
    """The answer was not a well-formed message of the protocol."""

    reason = "provider_garbage"


class SignatureMismatch(OutcomeUnknown):
    """The answer's signature does not verify: it is not from the provider, or was altered."""

    reason = "provider_bad_signature"


class ProviderBusy(OutcomeUnknown):
    """The provider said it does not know yet (SYSTEMERROR, BANKERROR, recall=Y, ...)."""

    reason = "provider_busy"


class NotDelivered(PaymentError):
    """Final: the request never reached the provider (connection refused); nothing moved."""

    reason = "provider_unreachable"


class ReverseRefused(PaymentError):
    """Final: the provider will not reverse this order; a person must refund it."""

    reason = "reverse_refused"


def is_retryable(err: BaseException) -> bool:
    """Return whether asking the provider again (query or reverse, never pay) may help."""
    return isinstance(err, OutcomeUnknown)


class PaymentProvider(Protocol):
    """One wallet: WeChat Pay or Alipay. Every method has its own timeout."""

    name: ProviderName

    async def pay(self, order: PaymentOrder) -> PayAnswer:
        """Submit the payment once; raise ``OutcomeUnknown`` when the result is not known."""

    async def query(self, out_trade_no: str, amount_fen: int) -> QueryAnswer:
        """Ask what became of an order."""

    async def reverse(self, out_trade_no: str) -> Reversed:
        """Close the order and return anything charged; safe to repeat."""

    async def check(self) -> str:
        """Prove keys, ids and the link work without moving money; return what was seen."""

    async def close(self) -> None:
        """Release the HTTP session."""

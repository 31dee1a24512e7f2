"""The events a lane publishes to its screens and observers (``edge.lane`` re-exports it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .cart import utc_now


@dataclass(frozen=True, slots=True)
class LaneEvent:
    """What a scan or an action did, for the screen and the log.

    ``code`` is stable for the UI to translate; ``message`` is the English log text.
    """

    code: str
    message: str
    ok: bool = True
    scan_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    at: str = field(default_factory=utc_now)

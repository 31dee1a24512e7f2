"""Greeting a recognised member on the kiosk lane: the lane session does the rest.

``lane_greeter`` is the callback ``FaceService.watch`` calls. It attaches the member to the
lane's cart marked ``identified_by="face"`` (the tender step asks for the last 4 phone digits
before stored value or points are spent), which prices the cart for the member and publishes
the ``member_identified`` lane event the kiosk screen greets with. A member already on the cart
(scanned member code, or an earlier greeting) is left as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from ..catalog import Catalog, Member
from .service import RecognisedCallback, Recognition

_LOGGER = logging.getLogger(__name__)


class MemberLane(Protocol):
    """What the greeting needs of a lane session (``edge.lane.LaneSession``)."""

    @property
    def cart(self) -> Any: ...

    async def set_member(self, member: Member | None, *, identified_by: str = ...) -> Any: ...


def lane_greeter(lanes: Mapping[str, MemberLane], catalog: Catalog) -> RecognisedCallback:
    """Return the callback that attaches a recognised member to their kiosk lane's cart."""

    async def greet(recognition: Recognition) -> None:
        lane = lanes.get(recognition.lane_id)
        if lane is None:
            _LOGGER.error("Camera %s is bound to lane %s, which does not exist",
                          recognition.camera_id, recognition.lane_id)
            return
        if lane.cart.member is not None:
            return
        member = await catalog.member(recognition.member_id)
        if member is None:
            _LOGGER.warning("Member %s was recognised but is not in the member list",
                            recognition.member_id)
            return
        await lane.set_member(member, identified_by="face")

    return greet

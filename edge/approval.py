"""A supervisor's approval of one action at a staffed lane, and its refusal."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import EdgeError


class ApprovalRefused(EdgeError):
    """The supervisor PIN was missing, wrong, or not a second person's."""

    def __init__(self, message: str, code: str = "approval_refused") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Approval:
    """Who asked (the cashier) and who approved (the supervisor) one action at one lane."""

    lane: str
    cashier: str
    supervisor: str
    shift_id: str | None

"""What every console handler reaches: the daemon, the console's config and services."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from edge.audit import record_audit
from edge.sessions import Sessions
from edge.users import Users

from ..auth import require_session
from ..push import Feed
from .config import ConsoleConfig
from .setup_code import SetupCode

if TYPE_CHECKING:
    from edge.app import EdgeApp


@dataclass(slots=True)
class ConsoleState:
    edge: EdgeApp
    config: ConsoleConfig
    users: Users
    sessions: Sessions
    setup: SetupCode
    dashboard: Feed


CONSOLE_KEY: web.AppKey[ConsoleState] = web.AppKey("console", ConsoleState)


def console(request: web.Request) -> ConsoleState:
    return request.app[CONSOLE_KEY]


def actor(request: web.Request) -> str:
    """Return the signed-in user's name, as the audit log records it."""
    return require_session(request).user.name


async def audit(request: web.Request, action: str, target: str | None,
                detail: dict[str, Any] | None = None) -> None:
    """Record a console action that changes no row of its own (a test, a download)."""
    await console(request).edge.store.write(functools.partial(
        record_audit, actor=actor(request), action=action, target=target, detail=detail))

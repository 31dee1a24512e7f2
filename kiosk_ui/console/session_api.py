"""Signing in and out, first-run setup, and changing one's own password."""

from __future__ import annotations

import logging

from aiohttp import web

from edge.users import User, UserConflict

from ..auth import clear_session_cookie, current_session, require_session, set_session_cookie
from ..errors import ApiError
from ..schema import Schema, Str, read_json
from ..security import client_address
from .context import console
from .shell import setup_needed

_LOGGER = logging.getLogger(__name__)
NAME = Str(64)
PASSWORD = Str(256)
LOGIN: Schema = {"name": NAME, "password": PASSWORD}
SETUP: Schema = {"code": Str(64), "name": NAME, "password": PASSWORD}
CHANGE_PASSWORD: Schema = {"current": PASSWORD, "new": PASSWORD}


async def api_session(request: web.Request) -> web.Response:
    """Say whether setup is needed and who is signed in (with the CSRF token for scripts)."""
    session = current_session(request)
    return web.json_response({
        "setup_required": await setup_needed(request),
        "user": session.user.as_dict() if session else None,
        "csrf": session.csrf_token if session else None,
    })


async def _start_session(request: web.Request, user: User) -> web.Response:
    state = console(request)
    address = client_address(request)
    token, session = await state.sessions.create(user, address)
    if session.persisted:
        await state.users.mark_login(user, address=address)
    response = web.json_response({"user": user.as_dict(), "csrf": session.csrf_token})
    set_session_cookie(response, request, token)
    return response


async def api_setup(request: web.Request) -> web.Response:
    """Create the first IT admin with the one-time setup code, and sign them in."""
    state = console(request)
    body = await read_json(request, SETUP)
    if not state.setup.active:
        raise ApiError(409, "the console is already set up; sign in instead", "already_set_up")
    address = ("address", client_address(request))
    state.users.limiter.check(address)
    if not state.setup.matches(body["code"]):
        locked = state.users.limiter.failure(address)
        _LOGGER.warning("Wrong console setup code from %s", address[1])
        if locked is not None:
            raise locked
        raise ApiError(403, "the setup code is not right; it is in the daemon's log and in "
                       f"{state.setup.path}", "bad_setup_code")
    try:
        user = await state.users.create(body["name"], "it_admin", body["password"],
                                        actor="setup", first_admin=True)
    except UserConflict:
        state.setup.retire()
        raise
    state.setup.retire()
    _LOGGER.info("Console set up: first IT admin %s created from %s", user.name, address[1])
    return await _start_session(request, user)


async def api_login(request: web.Request) -> web.Response:
    state = console(request)
    body = await read_json(request, LOGIN)
    user = await state.users.authenticate(body["name"], body["password"],
                                          address=client_address(request))
    if user is None:
        raise ApiError(401, "wrong user name or password", "bad_credentials")
    return await _start_session(request, user)


async def api_logout(request: web.Request) -> web.Response:
    await read_json(request, {})
    state = console(request)
    session = require_session(request)
    await state.sessions.end_hash(session.token_hash)
    response = web.json_response({"ok": True})
    clear_session_cookie(response, request)
    return response


async def api_change_password(request: web.Request) -> web.Response:
    """Change the signed-in user's own password; every session of theirs ends."""
    state = console(request)
    session = require_session(request)
    body = await read_json(request, CHANGE_PASSWORD)
    await state.users.change_own_password(session.user, body["current"], body["new"])
    state.sessions.forget_user(session.user.id)
    response = web.json_response({"ok": True})
    clear_session_cookie(response, request)
    return response

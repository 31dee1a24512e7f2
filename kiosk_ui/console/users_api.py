"""Users and roles: create, disable, reset password or PIN, change role (never the last admin)."""

from __future__ import annotations

from aiohttp import web

from edge.users import Role, User

from ..errors import ApiError
from ..schema import Bool, Schema, Str, read_json
from .context import actor, console

ROLE = Str(16, pattern="|".join(r.value for r in Role))
PIN = Str(8, min_len=4, pattern=r"[0-9]+")
CREATE: Schema = {"name": Str(32), "role": ROLE, "password": Str(128),
          "pin": Str(8, min_len=4, pattern=r"[0-9]+", required=False, nullable=True)}
SET_PASSWORD: Schema = {"password": Str(128)}
SET_PIN: Schema = {"pin": Str(8, min_len=4, pattern=r"[0-9]+", nullable=True)}
SET_ROLE: Schema = {"role": ROLE}
SET_DISABLED: Schema = {"disabled": Bool()}


def _name(request: web.Request) -> str:
    name = request.match_info["name"]
    if not 1 <= len(name) <= 32:
        raise ApiError(404, "no such user", "no_user")
    return name


def _answer(request: web.Request, user: User, *, sessions_ended: bool = False) -> web.Response:
    if sessions_ended:
        console(request).sessions.forget_user(user.id)
    return web.json_response({"user": user.as_dict()})


async def api_users(request: web.Request) -> web.Response:
    users = await console(request).users.list_all()
    return web.json_response({"users": [u.as_dict() for u in users],
                              "roles": [r.value for r in Role]})


async def api_create_user(request: web.Request) -> web.Response:
    body = await read_json(request, CREATE)
    user = await console(request).users.create(body["name"], body["role"], body["password"],
                                               pin=body.get("pin"), actor=actor(request))
    return web.json_response({"user": user.as_dict()}, status=201)


async def api_set_password(request: web.Request) -> web.Response:
    body = await read_json(request, SET_PASSWORD)
    user = await console(request).users.set_password(_name(request), body["password"],
                                                     actor=actor(request))
    return _answer(request, user, sessions_ended=True)


async def api_set_pin(request: web.Request) -> web.Response:
    body = await read_json(request, SET_PIN)
    user = await console(request).users.set_pin(_name(request), body["pin"],
                                                actor=actor(request))
    return _answer(request, user)


async def api_set_role(request: web.Request) -> web.Response:
    body = await read_json(request, SET_ROLE)
    user = await console(request).users.set_role(_name(request), body["role"],
                                                 actor=actor(request))
    return _answer(request, user, sessions_ended=True)


async def api_set_disabled(request: web.Request) -> web.Response:
    body = await read_json(request, SET_DISABLED)
    user = await console(request).users.set_disabled(_name(request), body["disabled"],
                                                     actor=actor(request))
    return _answer(request, user, sessions_ended=body["disabled"])

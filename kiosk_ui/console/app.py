"""The console's aiohttp app: THE route table (path, handler, least role) and its wiring.

To add an endpoint: write the handler in the module of its concern and add one ``Route``
line below with the least role that may call it. A route registered any other way is
refused by the auth middleware, and the API tests pick every route up from this app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from aiohttp import web

from edge.users import Role

from ..auth import AUTH_KEY, PUBLIC, AuthSettings, Route, add_routes, add_static, auth_middleware
from ..errors import error_middleware
from ..pages import setup_pages
from ..push import setup_push
from ..schema import MAX_BODY
from ..security import security_headers
from . import (
    admin,
    checkout,
    dashboard,
    devices,
    guides,
    integrations,
    sales,
    session_api,
    shell,
    users_api,
)
from .context import CONSOLE_KEY, ConsoleState

PREFIX = shell.PREFIX
STATIC = f"{PREFIX}/static"
C, S, A = Role.CASHIER, Role.SUPERVISOR, Role.IT_ADMIN


def console_routes() -> list[Route]:
    """Return every console endpoint with the least role allowed to call it."""
    api = f"{PREFIX}/api"
    routes = [
        Route("GET", PREFIX, shell.root, PUBLIC),
        Route("GET", f"{PREFIX}/login", shell.login_page, PUBLIC),
        Route("GET", f"{PREFIX}/setup", shell.setup_page, PUBLIC),
        Route("GET", f"{api}/session", session_api.api_session, PUBLIC),
        Route("POST", f"{api}/setup", session_api.api_setup, PUBLIC),
        Route("POST", f"{api}/login", session_api.api_login, PUBLIC),
        Route("POST", f"{api}/logout", session_api.api_logout, C),
        Route("POST", f"{api}/me/password", session_api.api_change_password, C),
        Route("GET", f"{api}/dashboard", dashboard.api_dashboard, C),
        Route("GET", f"{PREFIX}/ws/dashboard", dashboard.ws_dashboard, C),
        Route("GET", f"{api}/devices", devices.api_devices, S),
        Route("POST", f"{api}/devices/{{device}}/test", devices.api_test_device, S),
        Route("GET", f"{api}/sales", sales.api_sales, S),
        Route("GET", f"{api}/sales/{{sale}}", sales.api_sale, S),
        Route("GET", f"{api}/guides", guides.api_guides, S),
        Route("GET", f"{api}/dead-letters", integrations.api_dead_letters, A),
        Route("POST", f"{api}/dead-letters/retry", integrations.api_retry_dead_letter, A),
        Route("POST", f"{api}/dead-letters/retry-all", integrations.api_retry_all_dead_letters,
              A),
        Route("GET", f"{api}/face-consents", integrations.api_face_consents, A),
        Route("POST", f"{api}/face-consents/delete", integrations.api_delete_face_data, A),
        Route("GET", f"{api}/users", users_api.api_users, A),
        Route("POST", f"{api}/users", users_api.api_create_user, A),
        Route("POST", f"{api}/users/{{name}}/password", users_api.api_set_password, A),
        Route("POST", f"{api}/users/{{name}}/pin", users_api.api_set_pin, A),
        Route("POST", f"{api}/users/{{name}}/role", users_api.api_set_role, A),
        Route("POST", f"{api}/users/{{name}}/disabled", users_api.api_set_disabled, A),
        Route("GET", f"{api}/config", admin.api_config, A),
        Route("GET", f"{api}/audit", admin.api_audit, A),
        Route("GET", f"{api}/logs", admin.api_logs, A),
        Route("GET", f"{PREFIX}/ws/logs", admin.ws_logs, A),
        Route("GET", f"{api}/diagnostics", admin.api_diagnostics, A),
        Route("GET", f"{api}/diagnostics.zip", admin.api_diagnostics_zip, A),
        Route("GET", f"{api}/checkout", checkout.api_checkout, S),
        Route("POST", f"{api}/receipts/reprint", checkout.api_reprint, S),
        Route("GET", f"{api}/badges", checkout.api_badges, A),
        Route("POST", f"{api}/badges", checkout.api_assign_badge, A),
        Route("POST", f"{api}/badges/revoke", checkout.api_revoke_badges, A),
    ]
    routes += [Route("GET", f"{PREFIX}/{p.slug}", shell.page_handler(p), p.role)
               for p in shell.PAGES]
    return routes


def static_folder() -> Path:
    return Path(str(resources.files("kiosk_ui").joinpath("static")))


def create_console_app(state: ConsoleState) -> web.Application:
    """Return the console app; nothing in it is reachable from the kiosk site."""
    config = state.config
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[security_headers(static_prefix=STATIC, tls=config.tls), error_middleware,
                     auth_middleware])
    app[CONSOLE_KEY] = state
    app[AUTH_KEY] = AuthSettings(
        sessions=state.sessions, cookie_path=PREFIX, login_path=f"{PREFIX}/login",
        secure_cookie=config.tls, trusted_origins=config.trusted_origins,
        allowed_hosts=config.allowed_hosts)
    setup_pages(app, STATIC, home=PREFIX, styles=("console/console.css",))
    setup_push(app)
    add_routes(app, console_routes())
    add_static(app, STATIC, static_folder())

    async def feed(_app: web.Application) -> AsyncIterator[None]:
        await state.dashboard.start()
        yield
        await state.dashboard.stop()

    app.cleanup_ctx.append(feed)
    return app

"""Build HTML where every string is text unless it is already ``Html``.

Server-rendered pages are small (a layout; the data arrives as JSON and is rendered with
``textContent``), so a 40-line builder that escapes by construction beats a template engine
whose autoescape can be switched off by one careless filter.
"""

from __future__ import annotations

import html
import json
from typing import Any

VOID = frozenset({"meta", "link", "br", "hr", "img", "input"})


class Html(str):
    """A string already escaped (or built by ``el``): inserted as is."""

    __slots__ = ()


def text(value: object) -> Html:
    return Html(html.escape(str(value), quote=True))


def el(tag: str, attrs: dict[str, Any] | None = None, *children: object) -> Html:
    """Return ``<tag attrs>children</tag>``; plain strings are escaped, ``Html`` is not.

    An attribute set to ``True`` is written bare, ``None``/``False`` is left out.
    """
    parts = [f"<{tag}"]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        attr = name.rstrip("_").replace("_", "-")
        parts.append(f" {attr}" if value is True else f' {attr}="{text(value)}"')
    parts.append(">")
    if tag in VOID:
        return Html("".join(parts))
    for child in children:
        if child is None:
            continue
        parts.append(child if isinstance(child, Html) else text(child))
    parts.append(f"</{tag}>")
    return Html("".join(parts))


def join(*children: object) -> Html:
    return Html("".join(c if isinstance(c, Html) else text(c) for c in children if c is not None))


def json_script(element_id: str, data: Any) -> Html:
    """Embed data for a page's script as a non-executable JSON block."""
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    # "<" can never start "</script>" or "<!--" inside the block once escaped.
    body = body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Html(f'<script type="application/json" id="{text(element_id)}">{body}</script>')

"""Messages in zh-CN (first) and English, shared by the server and the pages' scripts.

The catalogs are JSON files in ``static/i18n/`` so the same text serves the server-rendered
layout (``Catalogs.t``) and the browser (``static/js/i18n.js`` reads the same files). A key
missing in one language falls back to zh-CN, then to the key itself, so a page never breaks.
"""

from __future__ import annotations

import json
import string
from importlib import resources
from typing import Any

from aiohttp import web

LANGS = ("zh-CN", "en")
DEFAULT_LANG = "zh-CN"
LANG_COOKIE = "lang"
HTML_LANG = {"zh-CN": "zh-CN", "en": "en"}


class Catalogs:
    """Every language's messages, loaded once per web app."""

    def __init__(self) -> None:
        folder = resources.files("kiosk_ui").joinpath("static", "i18n")
        self.messages: dict[str, dict[str, str]] = {
            lang: json.loads(folder.joinpath(f"{lang}.json").read_text("utf-8"))
            for lang in LANGS
        }

    def t(self, lang: str, key: str, **params: Any) -> str:
        """Return the message ``key`` in ``lang`` with ``{name}`` placeholders filled."""
        template = (self.messages.get(lang, {}).get(key)
                    or self.messages[DEFAULT_LANG].get(key) or key)
        try:
            return string.Formatter().vformat(template, (), _Lenient(params))
        except (ValueError, IndexError):
            return template

    def catalog(self, lang: str) -> dict[str, str]:
        return {**self.messages[DEFAULT_LANG], **self.messages.get(lang, {})}


class _Lenient(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def negotiate(request: web.Request) -> str:
    """Return the page language: the visitor's toggle (a cookie), else zh-CN."""
    lang = request.cookies.get(LANG_COOKIE, "")
    return lang if lang in LANGS else DEFAULT_LANG

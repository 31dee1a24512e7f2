"""Every message the console shows exists in zh-CN and in English."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kiosk_ui.i18n import LANGS, Catalogs

UI = Path(__file__).resolve().parents[1] / "kiosk_ui"
# t("key" ...) in scripts, t(request, "key" ...) and *_key="key" in Python; keys built at run
# time (state.${...}) are covered by the catalogs' own consistency check.
JS_KEY = re.compile(r"""\bt\(\s*["']([a-z_]+\.[A-Za-z0-9_.]+)["']""")
PY_KEY = re.compile(
    r"""(?:\bt\(request,\s*|key=|PageDef\("[^"]+",\s*)f?["']([a-z_]+\.[a-z0-9_.]+)["']""")


def test_both_catalogs_have_the_same_keys_and_no_empty_text() -> None:
    catalogs = Catalogs()
    keys = [set(catalogs.messages[lang]) for lang in LANGS]
    assert keys[0] == keys[1], keys[0] ^ keys[1]
    for lang in LANGS:
        assert all(text.strip() for text in catalogs.messages[lang].values()), lang
        raw = (UI / "static" / "i18n" / f"{lang}.json").read_text("utf-8")
        assert json.loads(raw) == catalogs.messages[lang]


def test_no_key_is_defined_twice() -> None:
    """A key written twice (two pages chose the same name) silently loses its first text."""
    for lang in LANGS:
        pairs = json.loads((UI / "static" / "i18n" / f"{lang}.json").read_text("utf-8"),
                           object_pairs_hook=lambda items: items)
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), (lang, sorted({k for k in keys if keys.count(k) > 1}))


def test_every_key_the_code_uses_is_in_the_catalogs() -> None:
    known = set(Catalogs().messages["zh-CN"])
    used: set[str] = set()
    for path in UI.rglob("*.js"):
        used |= set(JS_KEY.findall(path.read_text("utf-8")))
    for path in UI.rglob("*.py"):
        used |= set(PY_KEY.findall(path.read_text("utf-8")))
    assert len(used) > 150
    assert used - known == set()


def test_placeholders_match_between_languages() -> None:
    catalogs = Catalogs()
    for key, zh in catalogs.messages["zh-CN"].items():
        en = catalogs.messages["en"][key]
        assert sorted(re.findall(r"\{(\w+)\}", zh)) == sorted(re.findall(r"\{(\w+)\}", en)), key
    assert catalogs.t("en", "api.locked", minutes=15).startswith("Too many failed attempts")
    assert catalogs.t("zh-CN", "no.such.key") == "no.such.key"

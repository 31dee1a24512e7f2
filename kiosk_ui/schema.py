"""Strict request bodies and query strings: declared fields, types and bounds, nothing else.

Hand-written because no JSON-schema library is among the dependencies and the need is small:
flat objects of strings, integers and booleans, each error naming its field so a script (or a
person reading the browser console) knows what to fix. Unknown fields are refused, not ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import ApiError

MAX_BODY = 16 * 1024


@dataclass(frozen=True, slots=True)
class Str:
    max_len: int
    min_len: int = 1
    pattern: str | None = None
    required: bool = True
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Int:
    low: int
    high: int
    required: bool = True
    nullable: bool = False


@dataclass(frozen=True, slots=True)
class Bool:
    required: bool = True


@dataclass(frozen=True, slots=True)
class Items:
    """A list of flat objects, each checked against ``item`` (e.g. refund lines)."""

    item: Mapping[str, Str | Int | Bool]
    max_items: int
    min_items: int = 0
    required: bool = True
    nullable: bool = False


Field = Str | Int | Bool | Items
Schema = Mapping[str, Field]


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, f"{field}: {message}", "bad_field", field=field)


def check_value(field: str, spec: Field, value: Any) -> Any:
    """Return ``value`` when it fits ``spec``; raise a 400 naming the field."""
    if value is None and getattr(spec, "nullable", False):
        return None
    if isinstance(spec, Bool):
        if not isinstance(value, bool):
            raise _bad(field, "must be true or false")
        return value
    if isinstance(spec, Items):
        if not isinstance(value, list) or not spec.min_items <= len(value) <= spec.max_items:
            raise _bad(field, f"must be a list of {spec.min_items} to {spec.max_items} items")
        return [check_object(item, spec.item, where=f"{field}[{i}]")
                for i, item in enumerate(value)]
    if isinstance(spec, Int):
        if not isinstance(value, int) or isinstance(value, bool):
            raise _bad(field, "must be a whole number")
        if not spec.low <= value <= spec.high:
            raise _bad(field, f"must be {spec.low} to {spec.high}")
        return value
    if not isinstance(value, str):
        raise _bad(field, "must be text")
    if not spec.min_len <= len(value) <= spec.max_len:
        raise _bad(field, f"must be {spec.min_len} to {spec.max_len} characters")
    if "\x00" in value:
        raise _bad(field, "must not contain NUL characters")
    if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
        raise _bad(field, "has characters that are not allowed")
    return value


def check_object(data: Any, schema: Schema, *, where: str = "") -> dict[str, Any]:
    """Check a decoded JSON object against ``schema``; return only declared fields."""
    if not isinstance(data, dict):
        raise ApiError(400, f"{where or 'the body'} must be a JSON object", "bad_body")
    unknown = sorted(set(data) - set(schema))
    if unknown:
        name = f"{where}.{unknown[0][:40]}" if where else unknown[0][:40]
        raise ApiError(400, f"unknown field {name!r}", "unknown_field", field=name)
    result: dict[str, Any] = {}
    for name, spec in schema.items():
        path = f"{where}.{name}" if where else name
        if name not in data:
            if spec.required:
                raise _bad(path, "is required")
            continue
        result[name] = check_value(path, spec, data[name])
    return result


async def read_json(request: web.Request, schema: Schema) -> dict[str, Any]:
    """Read and check a JSON body: JSON content type, bounded size, declared fields only."""
    if request.content_type != "application/json":
        # Also a CSRF defence: a cross-site form cannot send this type without a preflight.
        raise ApiError(415, "send the body as application/json", "content_type")
    raw = await request.read()  # aiohttp enforces the app's client_max_size (413)
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"the body is over {MAX_BODY} bytes", "too_large")
    try:
        data = json.loads(raw.decode("utf-8")) if raw else {}
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ApiError(400, "the body is not valid JSON", "bad_json") from None
    return check_object(data, schema)


def read_query(request: web.Request, schema: Schema) -> dict[str, Any]:
    """Check query parameters (text; ``Int`` fields are parsed from digits)."""
    query = request.query
    if len(query) > len(schema) or any(len(query.getall(k)) > 1 for k in query):
        raise ApiError(400, "unexpected or repeated query parameters", "bad_query")
    data: dict[str, Any] = {}
    for key, value in query.items():
        spec = schema.get(key)
        if spec is None:
            raise ApiError(400, f"unknown parameter {key[:40]!r}", "unknown_field")
        if isinstance(spec, Int):
            if not (value.isascii() and value.isdigit() and len(value) <= 12):
                raise _bad(key, "must be a whole number")
            data[key] = int(value)
        elif isinstance(spec, Bool):
            if value not in ("true", "false"):
                raise _bad(key, "must be true or false")
            data[key] = value == "true"
        else:
            data[key] = value
    return check_object(data, schema)

"""A compiled fast path for the sync schemas: msgspec decodes and checks an event line in C.

The schemas in ``sync/schema.py`` stay the one definition: they export the published JSON
Schema and word every rejection. Each is translated here into msgspec types that accept a
subset of what the schema accepts — unknown keys, unusual datetimes or anything msgspec reads
differently make the fast path decline — and a declined value takes the schema's own path.
So this can only make ingest faster, never more permissive; a test feeds both paths the same
hostile values to hold it to that.

Why msgspec: on the CRM, parsing and checking each event in Python cost about 40 µs, more
than half of the ingest budget (DESIGN: 20,000 events/s); msgspec does both in one C pass.
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Annotated, Any, Literal

import msgspec

from .schema import (
    AnyObj,
    Bool,
    DateTime,
    Int,
    List,
    Nullable,
    Obj,
    Schema,
    SchemaError,
    Str,
    _datetime_ok,
)


class NoFastPath(Exception):
    """The schema uses something this translation does not cover; keep the slow path."""


def _str(schema: Str) -> Any:
    if schema.enum is not None:
        allowed = []
        for value in schema.enum:  # only values the schema itself accepts
            try:
                schema.check(value)
            except SchemaError:
                continue
            allowed.append(value)
        if not allowed:
            raise NoFastPath("an enum without a value the schema accepts")
        return Literal[tuple(allowed)]
    # fullmatch semantics: \Z, since $ would also match before a trailing newline.
    pattern = f"^(?:{schema.pattern})\\Z" if schema.pattern else None
    return Annotated[str, msgspec.Meta(min_length=schema.min_len, max_length=schema.max_len,
                                       pattern=pattern)]


def fast_type(schema: Schema, name: str = "Value") -> Any:  # noqa: PLR0911 - one per kind
    """Return a msgspec type accepting a subset of what ``schema`` accepts."""
    if isinstance(schema, Str):
        return _str(schema)
    if isinstance(schema, Int):
        return Annotated[int, msgspec.Meta(ge=schema.low, le=schema.high)]
    if isinstance(schema, Bool):
        return bool
    if isinstance(schema, Nullable):
        if isinstance(schema.inner, DateTime):
            raise NoFastPath("a nullable date-time outside an object")
        return typing.Optional[fast_type(schema.inner, name)]  # noqa: UP045 - a runtime type
    if isinstance(schema, List):
        if isinstance(schema.item, DateTime):
            raise NoFastPath("a list of date-times")
        return Annotated[list[fast_type(schema.item, name + "Item")],  # type: ignore[misc]
                         msgspec.Meta(min_length=schema.min_items, max_length=schema.max_items)]
    if isinstance(schema, AnyObj):
        return Annotated[dict[str, Any], msgspec.Meta(max_length=schema.max_keys)]
    if isinstance(schema, Obj):
        return _struct(schema, name)
    raise NoFastPath(f"no fast path for {type(schema).__name__}")


def _struct(schema: Obj, name: str) -> Any:
    if len(schema.required) + len(schema.optional) > schema.max_keys:
        raise NoFastPath("an object that declares more keys than it may hold")
    fields: list[Any] = []
    rename: dict[str, str] = {}
    dates: list[str] = []
    for i, (key, sub) in enumerate(schema.required + schema.optional):
        attr = f"f{i}"
        rename[attr] = key
        optional = i >= len(schema.required)
        nullable = isinstance(sub, Nullable) and isinstance(sub.inner, DateTime)
        if isinstance(sub, DateTime) or nullable:
            # Checked by the schema's own date-time rule after decoding (see __post_init__).
            kind: Any = Annotated[str, msgspec.Meta(min_length=10, max_length=40)]
            kind = typing.Optional[kind] if nullable else kind  # noqa: UP045
            dates.append(attr)
        else:
            kind = fast_type(sub, f"{name}_{key}")
        if optional:
            fields.append((attr, typing.Union[kind, msgspec.UnsetType], msgspec.UNSET))  # noqa: UP007
        else:
            fields.append((attr, kind))
    namespace: dict[str, Any] = {}
    if dates:
        namespace["__post_init__"] = _check_dates(tuple(dates))
    # gc=False: decoded events are acyclic and short-lived; the collector need not track them.
    return msgspec.defstruct(name, fields, rename=rename, forbid_unknown_fields=True,
                             namespace=namespace, gc=False)


def _check_dates(attrs: tuple[str, ...]) -> Callable[[Any], None]:
    def post_init(self: Any) -> None:
        for attr in attrs:
            value = getattr(self, attr)
            if value is not None and value is not msgspec.UNSET and not _datetime_ok(value):
                raise ValueError(f"{attr} is not an ISO-8601 date-time with an offset")
    return post_init


def decoder(schema: Schema, name: str = "Value") -> msgspec.json.Decoder[Any] | None:
    """Return a strict decoder checking ``schema``, or None when there is no fast path."""
    try:
        return msgspec.json.Decoder(fast_type(schema, name), strict=True)
    except NoFastPath:
        return None

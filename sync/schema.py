"""Small, strict JSON value schemas: one definition checks values and exports JSON Schema.

Why by hand: the checks run per event on the ingest path (20,000 events/s), where a generic
JSON Schema validator costs several times more; and exporting the same definitions as JSON
Schema keeps ``docs/sync-schema.json`` from drifting away from the code (a test compares them).

Objects accept keys they do not know (a newer peer may add fields; they are ignored), but
every known key is checked for type and bounds, and every string, list and number is bounded.

``validate`` runs a predicate generated once from the definition (one flat expression per
schema, no call per field: about four times faster than walking the tree) and walks the tree
with ``check`` only when that says no, to name the path and the rule that failed.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

JSON_MAX_INT = 2**53 - 1


class SchemaError(ValueError):
    """A value does not fit its schema; ``path`` says where (``lines[3].qty``)."""

    def __init__(self, path: str, message: str) -> None:
        self.path, self.message = path, message
        super().__init__(f"{path or 'value'}: {message}")

    def under(self, prefix: str) -> SchemaError:
        sep = "" if not self.path or self.path.startswith("[") else "."
        return SchemaError(f"{prefix}{sep}{self.path}" if self.path else prefix, self.message)


class _Compiler:
    """Builds the source of a predicate; values it needs go in its namespace, never inline."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {"_datetime_ok": _datetime_ok}
        self._count = 0

    def name(self, prefix: str, value: Any = None) -> str:
        self._count += 1
        name = f"{prefix}{self._count}"
        if value is not None:
            self.namespace[name] = value
        return name

    def function(self, schema: Schema) -> Callable[[Any], bool]:
        arg = self.name("v")
        fn = self.name("f")
        # A missing required key raises KeyError out of the expression: that is a "no" too.
        source = (f"def {fn}({arg}):\n    try:\n        return {schema.expr(arg, self)}\n"
                  "    except KeyError:\n        return False\n")
        # The source is built from our own schema constants only; strings and patterns reach
        # it through the namespace, never as text.
        exec(source, self.namespace)  # noqa: S102
        compiled: Callable[[Any], bool] = self.namespace[fn]
        return compiled


class Schema:
    """Base: ``check`` raises ``SchemaError``; ``json_schema`` describes the same rule."""

    __slots__ = ("_fast", "description")

    def __init__(self, description: str = "") -> None:
        self.description = description
        self._fast: Callable[[Any], bool] | None = None

    def validate(self, value: Any) -> None:
        """Raise ``SchemaError`` unless ``value`` fits; fast when it does."""
        fast = self._fast
        if fast is None:
            fast = self._fast = _Compiler().function(self)
        if not fast(value):
            self.check(value)
            raise SchemaError("", "does not fit its schema")  # the two paths disagree: a bug

    def check(self, value: Any) -> None:
        raise NotImplementedError

    def expr(self, var: str, c: _Compiler) -> str:
        """Return a Python expression that is true when the value in ``var`` fits."""
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def _doc(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.description:
            schema["description"] = self.description
        return schema


class Str(Schema):
    __slots__ = ("_regex", "enum", "max_len", "min_len", "pattern")

    def __init__(self, max_len: int, *, min_len: int = 1, pattern: str | None = None,
                 enum: tuple[str, ...] | None = None, description: str = "") -> None:
        super().__init__(description)
        self.max_len, self.min_len, self.pattern, self.enum = max_len, min_len, pattern, enum
        self._regex = re.compile(pattern) if pattern else None

    def check(self, value: Any) -> None:
        if type(value) is not str:
            raise SchemaError("", f"must be a string, got {_kind(value)}")
        if not self.min_len <= len(value) <= self.max_len:
            raise SchemaError("", f"must be {self.min_len}-{self.max_len} characters long")
        if self._regex is not None and not self._regex.fullmatch(value):
            raise SchemaError("", f"does not match {self.pattern}")
        if self.enum is not None and value not in self.enum:
            raise SchemaError("", f"must be one of {', '.join(self.enum)}")

    def expr(self, var: str, c: _Compiler) -> str:
        out = f"(type({var}) is str and {self.min_len} <= len({var}) <= {self.max_len}"
        if self._regex is not None:
            out += f" and {c.name('re', self._regex)}.fullmatch({var}) is not None"
        if self.enum is not None:
            out += f" and {var} in {c.name('enum', frozenset(self.enum))}"
        return out + ")"

    def json_schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "minLength": self.min_len,
                               "maxLength": self.max_len}
        if self.pattern:
            out["pattern"] = f"^(?:{self.pattern})$"
        if self.enum:
            out["enum"] = list(self.enum)
        return self._doc(out)


class DateTime(Schema):
    """An ISO-8601 date-time with a UTC offset, as ``utc_now()`` writes it."""

    __slots__ = ()

    def check(self, value: Any) -> None:
        if type(value) is not str or not 10 <= len(value) <= 40:
            raise SchemaError("", "must be an ISO-8601 date-time string")
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise SchemaError("", "must be an ISO-8601 date-time string") from None
        if parsed.tzinfo is None:
            raise SchemaError("", "must carry a UTC offset")

    def expr(self, var: str, c: _Compiler) -> str:
        return f"_datetime_ok({var})"

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"type": "string", "format": "date-time", "maxLength": 40})


class Int(Schema):
    __slots__ = ("high", "low")

    def __init__(self, low: int = -JSON_MAX_INT, high: int = JSON_MAX_INT,
                 description: str = "") -> None:
        super().__init__(description)
        self.low, self.high = low, high

    def check(self, value: Any) -> None:
        if type(value) is not int:  # bool is not a number here, nor is 1.0
            raise SchemaError("", f"must be an integer, got {_kind(value)}")
        if not self.low <= value <= self.high:
            raise SchemaError("", f"must be {self.low}..{self.high}, got {value}")

    def expr(self, var: str, c: _Compiler) -> str:
        return f"(type({var}) is int and {self.low} <= {var} <= {self.high})"

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"type": "integer", "minimum": self.low, "maximum": self.high})


class Bool(Schema):
    __slots__ = ()

    def check(self, value: Any) -> None:
        if type(value) is not bool:
            raise SchemaError("", f"must be true or false, got {_kind(value)}")

    def expr(self, var: str, c: _Compiler) -> str:
        return f"type({var}) is bool"

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"type": "boolean"})


class Nullable(Schema):
    __slots__ = ("inner",)

    def __init__(self, inner: Schema, description: str = "") -> None:
        super().__init__(description)
        self.inner = inner

    def check(self, value: Any) -> None:
        if value is not None:
            self.inner.check(value)

    def expr(self, var: str, c: _Compiler) -> str:
        return f"({var} is None or {self.inner.expr(var, c)})"

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"anyOf": [self.inner.json_schema(), {"type": "null"}]})


class List(Schema):
    __slots__ = ("item", "max_items", "min_items")

    def __init__(self, item: Schema, max_items: int, *, min_items: int = 0,
                 description: str = "") -> None:
        super().__init__(description)
        self.item, self.max_items, self.min_items = item, max_items, min_items

    def check(self, value: Any) -> None:
        if type(value) is not list:
            raise SchemaError("", f"must be a list, got {_kind(value)}")
        if not self.min_items <= len(value) <= self.max_items:
            raise SchemaError("", f"must hold {self.min_items}-{self.max_items} items, "
                              f"got {len(value)}")
        check = self.item.check
        for i, item in enumerate(value):
            try:
                check(item)
            except SchemaError as err:
                raise err.under(f"[{i}]") from None

    def expr(self, var: str, c: _Compiler) -> str:
        item = c.name("item", c.function(self.item))
        return (f"(type({var}) is list and {self.min_items} <= len({var}) <= {self.max_items}"
                f" and all(map({item}, {var})))")

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"type": "array", "items": self.item.json_schema(),
                          "minItems": self.min_items, "maxItems": self.max_items})


class Obj(Schema):
    """A JSON object with required and optional keys; unknown keys are allowed and ignored."""

    __slots__ = ("max_keys", "optional", "required")

    def __init__(self, required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None,
                 *, max_keys: int = 64, description: str = "") -> None:
        super().__init__(description)
        self.required = tuple(required.items())
        self.optional = tuple((optional or {}).items())
        self.max_keys = max_keys

    def check(self, value: Any) -> None:
        if type(value) is not dict:
            raise SchemaError("", f"must be an object, got {_kind(value)}")
        if len(value) > self.max_keys:
            raise SchemaError("", f"has more than {self.max_keys} keys")
        for key, schema in self.required:
            try:
                item = value[key]
            except KeyError:
                raise SchemaError(key, "is required") from None
            try:
                schema.check(item)
            except SchemaError as err:
                raise err.under(key) from None
        for key, schema in self.optional:
            if key in value:
                try:
                    schema.check(value[key])
                except SchemaError as err:
                    raise err.under(key) from None

    def expr(self, var: str, c: _Compiler) -> str:
        parts = [f"type({var}) is dict", f"len({var}) <= {self.max_keys}"]
        for key, schema in self.required:
            field = c.name("k")
            parts.append(f"(({field} := {var}[{c.name('key', key)}]) is {field})")
            parts.append(schema.expr(field, c))
        for key, schema in self.optional:
            field, name = c.name("k"), c.name("key", key)
            parts.append(f"({name} not in {var} or (({field} := {var}[{name}]) is {field}"
                         f" and {schema.expr(field, c)}))")
        return "(" + " and ".join(parts) + ")"

    def json_schema(self) -> dict[str, Any]:
        props = {k: s.json_schema() for k, s in self.required + self.optional}
        return self._doc({"type": "object", "properties": props,
                          "required": [k for k, _ in self.required],
                          "maxProperties": self.max_keys})


class AnyObj(Schema):
    """Any JSON object of bounded width (nesting and size are bounded by the body limits)."""

    __slots__ = ("max_keys",)

    def __init__(self, max_keys: int = 256, description: str = "") -> None:
        super().__init__(description)
        self.max_keys = max_keys

    def check(self, value: Any) -> None:
        if type(value) is not dict:
            raise SchemaError("", f"must be an object, got {_kind(value)}")
        if len(value) > self.max_keys:
            raise SchemaError("", f"has more than {self.max_keys} keys")

    def expr(self, var: str, c: _Compiler) -> str:
        return f"(type({var}) is dict and len({var}) <= {self.max_keys})"

    def json_schema(self) -> dict[str, Any]:
        return self._doc({"type": "object", "maxProperties": self.max_keys})


def _datetime_ok(value: Any) -> bool:
    if type(value) is not str or not 10 <= len(value) <= 40:
        return False
    try:
        return dt.datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value), "?")


# Shared leaf types.
FEN = Int(0, 10**12, "an amount in fen (1/100 yuan), never negative")
DELTA = Int(-(10**12), 10**12, "a signed change of a balance")
ID = Str(64, pattern=r"[A-Za-z0-9_.:-]+")
NAME = Str(200)

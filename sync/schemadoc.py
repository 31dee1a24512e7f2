"""Print the protocol's machine-readable schema (JSON Schema 2020-12) from the code's own rules.

    python -m sync.schemadoc > docs/sync-schema.json

A test compares the file with this output, so the published schema cannot fall behind.
"""

from __future__ import annotations

import json
from typing import Any

from .events import EVENT_ENVELOPE, EVENT_TYPES
from .messages import (
    CHANGE,
    CHANGES_PAGE,
    ERROR,
    PAIR_REQUEST,
    PAIR_RESPONSE,
    PUSH_RESPONSE,
    SKIPPED_LINE,
    STREAM_ROWS,
)
from .protocol import PROTOCOL


def schema_document() -> dict[str, Any]:
    defs: dict[str, Any] = {
        "PairRequest": PAIR_REQUEST.json_schema(),
        "PairResponse": PAIR_RESPONSE.json_schema(),
        "PushLine": {"description": "one line of a push body (application/x-ndjson, gzip): "
                     "an event, in seq order, or an event the edge skipped",
                     "oneOf": [{"$ref": "#/$defs/EventEnvelope"},
                               {"$ref": "#/$defs/SkippedLine"}]},
        "SkippedLine": SKIPPED_LINE.json_schema(),
        "PushResponse": PUSH_RESPONSE.json_schema(),
        "EventEnvelope": EVENT_ENVELOPE.json_schema(),
        "ChangesPage": CHANGES_PAGE.json_schema(),
        "Change": CHANGE.json_schema(),
        "Error": ERROR.json_schema(),
    }
    for name, spec in sorted(EVENT_TYPES.items()):
        defs[f"event:{name}"] = dict(spec.schema.json_schema(), description=spec.description)
    for stream, schema in STREAM_ROWS.items():
        defs[f"stream:{stream}"] = schema.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:storeedge:{PROTOCOL}",
        "title": "StoreEdge sync protocol: the JSON bodies (see docs/sync-protocol.md)",
        "description": "Objects may carry keys not listed here; a receiver ignores them. "
        "event:<type> is the payload of an event of that type; stream:<name> is the data of an "
        "upsert in that change stream.",
        "$defs": defs,
    }


def render() -> str:
    return json.dumps(schema_document(), ensure_ascii=False, indent=2) + "\n"


if __name__ == "__main__":
    print(render(), end="")

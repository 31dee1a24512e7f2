-- events.body: valid JSON on its own, checked by ingest instead of by a CHECK on every row.
--
-- The CHECK (json_valid(body)) parsed every stored line a second time, about a tenth of the
-- CRM's work per event. Ingest already knows which lines were parsed alone: the fast path
-- (msgspec) decodes each line by itself, strictly, so those are JSON on their own. Only the
-- lines it declines are parsed joined with their neighbours (one parse per push), and for
-- those ingest asks json_valid() before storing them and refuses the push when one is not
-- JSON alone (sync/crm/ingest.py). The guarantee that every stored body is JSON is kept;
-- only where it is checked moves.
--
-- SQLite cannot drop a CHECK in place: the table is rebuilt, copying every stored event once.
CREATE TABLE events_new (
    id          INTEGER PRIMARY KEY,
    device_key  TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    event_id    TEXT NOT NULL,
    type        TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body        TEXT NOT NULL,                 -- JSON on its own: checked at ingest
    digest      TEXT NOT NULL,                 -- SHA-256 of body: the same id must send it again
    received_at TEXT NOT NULL
);
INSERT INTO events_new SELECT id, device_key, seq, event_id, type, occurred_at, body, digest,
    received_at FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;

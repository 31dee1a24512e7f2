"""The reference CRM: implements the sync protocol on its own SQLite file (tests and demo)."""

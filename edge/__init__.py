"""StoreEdge: the in-store edge daemon."""

__version__ = "0.1.0"

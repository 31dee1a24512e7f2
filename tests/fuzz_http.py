"""What the console's and the kiosk site's fuzz tests share: an HTTP client that keeps its
session cookie and CSRF token like a page, and hypothesis strategies for bodies and queries
built from a site's own field names and plausible words."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st


@dataclass(frozen=True)
class Inputs:
    bodies: st.SearchStrategy[bytes]
    content_types: st.SearchStrategy[str]
    queries: st.SearchStrategy[list[tuple[str, str]]]


def inputs(fields: list[str], words: list[str]) -> Inputs:
    """Bodies (mostly JSON objects of ``fields``, sometimes other JSON or raw bytes), content
    types and queries: shaped so the handlers are reached, not only the JSON parser."""
    scalars = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
               | st.sampled_from(words))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                          max_leaves=8)
    objects = st.dictionaries(st.sampled_from(fields) | st.text(max_size=8), values,
                              max_size=5)
    bodies = st.one_of(*[objects.map(lambda o: json.dumps(o).encode())] * 4,
                       values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=300))
    content_types = st.sampled_from(["application/json"] * 4 + [
        "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"])
    queries = st.lists(st.tuples(st.sampled_from(fields) | st.text(max_size=6),
                                 st.sampled_from(words) | st.text(max_size=12)
                                 | st.integers().map(str)), max_size=3)
    return Inputs(bodies, content_types, queries)


@dataclass
class Client:
    """Requests as a page of the site sends them: its session cookie (``cookie_name``), its
    CSRF token, and the site's own Origin when ``same_origin``."""

    host: str
    port: int
    cookie_name: str
    same_origin: bool = False
    cookie: str = ""
    csrf: str = ""

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            headers = {"Cookie": self.cookie, "X-CSRF-Token": self.csrf,
                       "Content-Type": content_type, "Accept": "application/json"}
            if self.same_origin:
                headers["Origin"] = f"http://{self.host}:{self.port}"
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            raw = response.read()
            cookie = response.getheader("Set-Cookie")
            if cookie and cookie.startswith(self.cookie_name + "="):
                self.cookie = cookie.split(";", 1)[0]
            try:
                return response.status, json.loads(raw)
            except ValueError:
                return response.status, raw.decode("utf-8", "replace")
        finally:
            conn.close()

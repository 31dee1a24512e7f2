"""The one-time code that lets the first person at the console create the IT admin.

With no user yet, anyone on the LAN who reaches the console could claim the appliance; the
code is only in the daemon's log and in a 0600 file in the state directory, so only someone
with access to the appliance itself can. It works once, then the file is removed.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

_LOGGER = logging.getLogger(__name__)
ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"  # no 0/O, 1/I/L, U: read aloud over the phone
FILE_NAME = "console-setup-code"


def normalise(code: str) -> str:
    return "".join(c for c in code.upper() if c.isalnum())


class SetupCode:
    """Holds the current setup code, if the console still needs setting up."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME
        self._code: str | None = None

    @property
    def active(self) -> bool:
        return self._code is not None

    def issue(self) -> str:
        """Make a new code, write it 0600 and return it (the caller logs where to find it)."""
        raw = "".join(secrets.choice(ALPHABET) for _ in range(12))
        code = f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)  # an older file may have had wider rights
            os.write(fd, (code + "\n").encode())
        finally:
            os.close(fd)
        self._code = normalise(code)
        return code

    def matches(self, code: str) -> bool:
        if self._code is None:
            return False
        return hmac.compare_digest(normalise(code[:64]).encode(), self._code.encode())

    def retire(self) -> None:
        """Forget the code and remove its file: it has been used (or is no longer needed)."""
        self._code = None
        try:
            self.path.unlink(missing_ok=True)
        except OSError as err:
            _LOGGER.warning("Could not remove %s: %s", self.path, err)

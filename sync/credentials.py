"""The device's CRM credentials: one JSON file, mode 0600, written atomically, never logged."""

from __future__ import annotations

import base64
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import NotPaired

MAX_FILE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Credentials:
    crm_url: str
    device_key: str          # store:device, as the CRM registered it
    store_id: str
    device_id: str
    paired_at: str
    secret: bytes = field(repr=False)   # the HMAC key; repr=False keeps it out of logs

    def as_json(self) -> str:
        return json.dumps({
            "crm_url": self.crm_url, "device_key": self.device_key, "store_id": self.store_id,
            "device_id": self.device_id, "paired_at": self.paired_at,
            "secret": base64.urlsafe_b64encode(self.secret).decode().rstrip("="),
        }, indent=2) + "\n"


def decode_secret(text: str) -> bytes:
    """Decode a base64url secret without padding; at least 32 bytes."""
    try:
        secret = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise ValueError("the secret is not base64url") from None
    if len(secret) < 32:
        raise ValueError("the secret is shorter than 32 bytes")
    return secret


def save_credentials(path: Path, creds: Credentials) -> None:
    """Write ``creds`` to ``path`` with mode 0600: never readable by others, not even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, creds.as_json().encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def load_credentials(path: Path, store_id: str, device_id: str) -> Credentials:
    """Read and check the credentials file; raise ``NotPaired`` saying what to do."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise NotPaired("not paired: run `storeedge pair CODE` with a code from the CRM") from None
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise NotPaired(f"{path} is readable by other users; run `chmod 600 {path}` "
                        "(the secret in it may have leaked: consider pairing again)")
    if info.st_size > MAX_FILE_BYTES:
        raise NotPaired(f"{path} is not a credentials file (too large)")
    try:
        data: Any = json.loads(path.read_text("utf-8"))
        creds = Credentials(
            crm_url=str(data["crm_url"]), device_key=str(data["device_key"]),
            store_id=str(data["store_id"]), device_id=str(data["device_id"]),
            paired_at=str(data.get("paired_at", "")), secret=decode_secret(str(data["secret"])))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise NotPaired(f"{path} is unreadable ({type(err).__name__}); pair again") from None
    if (creds.store_id, creds.device_id) != (store_id, device_id):
        raise NotPaired(f"paired as store {creds.store_id} device {creds.device_id}, but the "
                        f"config says store {store_id} device {device_id}: pair again")
    return creds

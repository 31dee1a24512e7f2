"""Templates encrypted at rest: AES-256-GCM with a key file of the state directory (mode 0600).

The key is created on first use, atomically (a temporary file linked into place, so two
processes starting together agree on one key). Every sealed template is bound to its row: the
template id and member id are the associated data, so a blob copied onto another row, or onto
another member, does not open. ``key_id`` (a hash of the key, not the key) is stored beside each
template so a replaced key file is reported as such rather than as damaged data.

Losing the key file loses the templates, by design: members re-enrol. Back it up apart from the
database if that matters more than keeping a stolen backup useless.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
from pathlib import Path

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .gallery import DIMENSIONS
from .types import Encoding, FaceError

KEY_BYTES = 32
NONCE_BYTES = 12
_AAD_PREFIX = b"storeedge-face-template:v1:"


class KeyFileError(FaceError):
    """The key file is missing, unreadable, damaged or readable by others."""


class SealError(FaceError):
    """A sealed template does not open with this key (wrong key, or the row was altered)."""


class TemplateCipher:
    """Seal and open templates with one AES-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise KeyFileError(f"a template key is {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)
        self.key_id = hashlib.sha256(b"storeedge-face-key-id:" + key).hexdigest()[:16]

    @classmethod
    def from_key_file(cls, path: Path) -> TemplateCipher:
        """Load the key at ``path``, creating it (0600) on first use."""
        return cls(load_or_create_key(path))

    def seal(self, template_id: str, member_id: str, encoding: Encoding) -> bytes:
        """Return nonce + ciphertext of one template."""
        plain = np.asarray(encoding, dtype="<f4").reshape(-1)
        if plain.shape != (DIMENSIONS,):
            raise ValueError("a template is 128 numbers")
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plain.tobytes(), _aad(template_id, member_id))

    def open(self, template_id: str, member_id: str, sealed: bytes) -> Encoding:
        """Return the template sealed in ``sealed``; raise ``SealError`` if it does not open."""
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, body, _aad(template_id, member_id))
        except InvalidTag:
            raise SealError(f"template {template_id} does not open with this key") from None
        return np.frombuffer(plain, dtype="<f4").astype(np.float32)


def _aad(template_id: str, member_id: str) -> bytes:
    return _AAD_PREFIX + f"{template_id}:{member_id}".encode()


def load_or_create_key(path: Path) -> bytes:
    """Return the key in ``path``; create it with fresh random bytes if there is none."""
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask says
        os.write(fd, AESGCM.generate_key(bit_length=256))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temporary, path)  # fails if another process made the key first: use theirs
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise
    except OSError as err:
        raise KeyFileError(f"cannot open the face template key {path}: {err.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"{path} is not a regular file")
        if info.st_mode & 0o077:
            raise KeyFileError(f"the face template key {path} is readable by others (mode "
                               f"{stat.S_IMODE(info.st_mode):o}): run `chmod 600 {path}`")
        key = os.read(fd, KEY_BYTES + 1)
    finally:
        os.close(fd)
    if len(key) != KEY_BYTES:
        raise KeyFileError(f"the face template key {path} is damaged ({len(key)} bytes, "
                           f"expected {KEY_BYTES}): restore it from a backup, or move it away "
                           "and re-enrol every member")
    return key

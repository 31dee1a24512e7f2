"""Merchant keys on disk: 0600 files in the state directory, never in the repository or logs."""

from __future__ import annotations

import os
import secrets
import stat
import string
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .base import PaymentError

MAX_KEY_FILE = 16 * 1024
_ALPHABET = string.ascii_letters + string.digits


class KeyFileError(PaymentError):
    """A key file is missing, unreadable, readable by others, or not a key."""

    reason = "config_error"


def read_key_file(path: Path) -> bytes:
    """Return a key file's bytes; refuse one that other users could read."""
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise KeyFileError(f"{path} is readable by other users: run `chmod 600 {path}`")
        if info.st_size > MAX_KEY_FILE:
            raise KeyFileError(f"{path} is too large to be a key")
        return path.read_bytes()
    except OSError as err:
        raise KeyFileError(f"cannot read key file {path}: {err.strerror}") from err


def load_secret(path: Path) -> str:
    """Load a WeChat Pay API key (32 printable ASCII characters as the merchant set it)."""
    text = read_key_file(path).decode("ascii", "replace").strip()
    if not 16 <= len(text) <= 64 or not text.isalnum():
        raise KeyFileError(f"{path} does not hold an API key (16-64 letters and digits)")
    return text


def load_private_key(path: Path) -> rsa.RSAPrivateKey:
    """Load an RSA private key in PEM (PKCS#1 or PKCS#8)."""
    try:
        key = serialization.load_pem_private_key(read_key_file(path), password=None)
    except (ValueError, TypeError) as err:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key: {err}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise KeyFileError(f"{path} is not an RSA key (RSA2 needs RSA)")
    return key


def load_public_key(path: Path) -> rsa.RSAPublicKey:
    """Load an RSA public key in PEM (as the provider's console shows it, with headers)."""
    try:
        key = serialization.load_pem_public_key(read_key_file(path))
    except (ValueError, TypeError) as err:
        raise KeyFileError(f"{path} is not a PEM public key: {err}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise KeyFileError(f"{path} is not an RSA public key")
    return key


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to a new 0600 file, created with that mode (never briefly readable)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def new_api_key() -> str:
    """Return a fresh 32-character API key, as a merchant would set one."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(32))


def new_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> bytes:
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)

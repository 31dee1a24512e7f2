"""TLS to the CRM: verified against the chain's own CA, refused without it."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from sync.credentials import save_credentials
from sync.crm.server import CrmServer, CrmSettings
from sync.errors import SyncError
from sync.pairing import pair
from tests.helpers import MILK
from tests.sync_helpers import (
    ADMIN_TOKEN,
    DEVICE,
    STORE,
    admin_of,
    make_sync_config,
    sell,
    started,
    wait_for,
)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca_and_server(folder: Path) -> tuple[Path, ssl.SSLContext]:
    """A private CA (as a chain would run) and a certificate for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("Chain Test CA"))
          .issuer_name(_name("Chain Test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(days=1))
          .not_valid_after(now + dt.timedelta(days=30))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(_name("crm.test"))
            .issuer_name(ca.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "crm.pem", folder / "crm.key"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


async def test_sync_over_tls_with_the_chains_ca_and_not_without(tmp_path: Path) -> None:
    ca_file, context = make_ca_and_server(tmp_path)
    async with CrmServer(tmp_path / "crm.db", settings=CrmSettings(admin_token=ADMIN_TOKEN),
                         seed_demo=True, ssl_context=context) as crm:
        assert crm.url.startswith("https://127.0.0.1:")
        async with admin_of(crm, ssl.create_default_context(cafile=str(ca_file))) as admin:
            code = await admin.pairing_code()
        # Without the chain's CA the CRM's certificate is not trusted: nothing is sent.
        with pytest.raises(SyncError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify"):
            await pair(crm.url, code, STORE, DEVICE)
        config = make_sync_config(tmp_path, crm.url, extra=f'ca_file = "{ca_file}"\n')
        creds = await pair(crm.url, code, STORE, DEVICE, ca_file=str(ca_file))
        save_credentials(config.sync.credentials_path(config.paths.state_dir), creds)
        async with started(config) as app:
            await sell(app, [MILK])
            await wait_for(lambda: app.sync.status()["acked_through_seq"] == 1,
                           what="the sale over TLS")
            assert app.sync.state.state == "online"

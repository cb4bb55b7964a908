"""Throwaway TLS material for the ACS test server.

Two certificates are made with ``cryptography`` (ECDSA P-256, so it takes milliseconds):

* a throwaway CA (``CA:TRUE``, keyCertSign) whose PEM is the file to trust (``ca_file``);
* a server certificate signed by it, CN ``127.0.0.1``, SAN ``DNS:localhost``, ``DNS:127.0.0.1`` and
  ``IP:127.0.0.1``, EKU serverAuth.

A CA plus a leaf, rather than one self-signed leaf, because OpenSSL (and Python 3.13's strict X.509
verification) only accepts a trust anchor that is a proper CA certificate.

The key and certificates are written to a fresh temporary directory.  :func:`default_bundle` makes one
bundle per process and reuses it for every server of that process, so an environment variable pointing at
``ca_file`` (``SSL_CERT_FILE``, ``REQUESTS_CA_BUNDLE``) stays valid for all servers of a test session; the
directory is removed at interpreter exit.
"""

from __future__ import annotations

import atexit
import datetime as _dt
import ipaddress
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CertBundle", "generate", "default_bundle"]


@dataclass(frozen=True)
class CertBundle:
    directory: str
    ca_file: str  # PEM of the throwaway CA: trust this one
    cert_file: str  # PEM chain served by the server: leaf, then CA
    key_file: str  # PEM private key of the leaf (unencrypted)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "acs-test-server (throwaway)"),
        ]
    )


def generate(directory: str | None = None, *, days: int = 30) -> CertBundle:
    """Make a CA and a server certificate for 127.0.0.1/localhost (and *.asm.skype.com) and write them to ``directory``."""
    directory = directory or tempfile.mkdtemp(prefix="acs-test-certs-")
    os.makedirs(directory, exist_ok=True)
    now = _dt.datetime.now(_dt.timezone.utc)
    not_before = now - _dt.timedelta(days=1)
    not_after = now + _dt.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("ACS test server throwaway CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName("127.0.0.1"),
                    x509.DNSName("*.asm.skype.com"),  # recording storage, reached through tunnel.py
                    x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    bundle = CertBundle(
        directory=directory,
        ca_file=os.path.join(directory, "ca.pem"),
        cert_file=os.path.join(directory, "server-chain.pem"),
        key_file=os.path.join(directory, "server-key.pem"),
    )
    with open(bundle.ca_file, "wb") as f:
        f.write(ca_pem)
    with open(bundle.cert_file, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM) + ca_pem)
    fd = os.open(bundle.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return bundle


_default: CertBundle | None = None
_default_lock = threading.Lock()


def default_bundle() -> CertBundle:
    """The process-wide bundle, made on first use and deleted at interpreter exit."""
    global _default
    with _default_lock:
        if _default is None or not os.path.exists(_default.ca_file):
            _default = generate()
            atexit.register(shutil.rmtree, _default.directory, True)
        return _default

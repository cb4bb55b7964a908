"""Signing checkpoints: ECDSA P-256 with SHA-256 (JOSE "ES256"), the one algorithm both a local PEM key
(``cryptography``) and an Azure Key Vault key (no Ed25519 there) support.

Signatures are the raw 64 bytes r || s (as Key Vault returns them, IEEE P1363), base64 in the checkpoint.  A key
is named by its id: the sha256 (hex) of its public key's DER SubjectPublicKeyInfo.  The private key never leaves
Key Vault: the function's identity may only sign (docs/integrity.md, infra/modules/seal-key.bicep).
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

ALGORITHM = "ES256"


class Signer(Protocol):
    public_pem: bytes
    key_id: str

    def sign(self, message: bytes) -> bytes: ...


def public_key_id(public_pem: bytes) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(public_pem)
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


def _check_p256(key: Any, where: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) or key.curve.name != "secp256r1":
        raise ValueError(f"{where}: not an ECDSA P-256 key")


def generate(path: str | os.PathLike[str]) -> bytes:
    """A new P-256 private key written to ``path`` (PKCS#8 PEM, owner-only, never overwriting); its public PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # FileExistsError if it exists
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class FileSigner:
    """A local PEM private key (ARCHIVE_SEAL_KEY_FILE): development, tests, air-gapped deployments."""

    path: str
    public_pem: bytes = b""
    key_id: str = ""

    def __post_init__(self) -> None:
        from cryptography.hazmat.primitives import serialization

        self._key = serialization.load_pem_private_key(Path(self.path).read_bytes(), password=None)
        _check_p256(self._key, self.path)
        self.public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.key_id = public_key_id(self.public_pem)

    def sign(self, message: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(self._key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class KeyVaultSigner:
    """An Azure Key Vault EC P-256 key (ARCHIVE_SEAL_KEY_ID): signs a digest through the vault's sign operation."""

    def __init__(self, key_url: str, credential: Any):
        from azure.keyvault.keys import KeyClient
        from azure.keyvault.keys.crypto import CryptographyClient

        self.key_url = key_url
        vault, name, version = _parse_key_url(key_url)
        # keys/read: the public half, to publish it beside the checkpoints and to check our own signatures.
        key = KeyClient(vault, credential).get_key(name, version)
        crv = key.key.crv
        self.public_pem = jwk_public_pem(key.key.x, key.key.y, str(getattr(crv, "value", crv)))
        self.key_id = public_key_id(self.public_pem)
        self._client = CryptographyClient(key, credential)

    def sign(self, message: bytes) -> bytes:
        from azure.keyvault.keys.crypto import SignatureAlgorithm

        result = self._client.sign(SignatureAlgorithm.es256, hashlib.sha256(message).digest())
        return result.signature  # already r || s, 64 bytes


def _parse_key_url(url: str) -> tuple[str, str, str | None]:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    parts = [p for p in parsed.path.split("/") if p]
    if parsed.scheme != "https" or len(parts) not in (2, 3) or parts[0] != "keys":
        raise ValueError(f"{url!r} is not a Key Vault key URL (https://<vault>.vault.azure.net/keys/<name>[/<version>])")
    return f"https://{parsed.netloc}", parts[1], parts[2] if len(parts) == 3 else None


def jwk_public_pem(x: bytes, y: bytes, crv: str) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    if crv != "P-256":
        raise ValueError(f"Key Vault key on curve {crv}: ES256 needs P-256")
    numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1())
    return numbers.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def verify_signature(public_pem: bytes, message: bytes, signature_b64: str) -> bool:
    """True if the base64 r || s signature of ``message`` verifies with the public key (ES256)."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        raw = base64.b64decode(signature_b64, validate=True)
    except (ValueError, TypeError):
        return False
    if len(raw) != 64:
        return False
    key = serialization.load_pem_public_key(public_pem)
    _check_p256(key, "public key")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def signer_from_settings(settings: Any, credential_factory) -> Signer:
    """The configured signer: ARCHIVE_SEAL_KEY_ID (Key Vault) wins over ARCHIVE_SEAL_KEY_FILE."""
    from archiving.settings import SettingError

    if settings.seal_key_id:
        try:
            return KeyVaultSigner(settings.seal_key_id, credential_factory())
        except ValueError as exc:
            raise SettingError("ARCHIVE_SEAL_KEY_ID", str(exc)) from None
    if settings.seal_key_file:
        try:
            return FileSigner(settings.seal_key_file)
        except FileNotFoundError:
            raise SettingError("ARCHIVE_SEAL_KEY_FILE", f"{settings.seal_key_file} does not exist "
                               "(create one with `python -m archiving keygen PATH`)") from None
        except ValueError as exc:
            raise SettingError("ARCHIVE_SEAL_KEY_FILE", f"not a usable PEM private key: {exc}") from None
    raise SettingError("ARCHIVE_SEAL_KEY_FILE", "not set (nor ARCHIVE_SEAL_KEY_ID for a Key Vault key): "
                       "the seal signs its checkpoints")

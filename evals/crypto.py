"""Endpoint API keys encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from settings: ``EVALS_ENCRYPTION_KEY`` (a Fernet key) when set, else derived from
SECRET_KEY with HKDF, so a deployment has encryption without configuring anything extra. Rotating
SECRET_KEY without setting EVALS_ENCRYPTION_KEY makes stored keys unreadable: operations re-enter them.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class KeyUnreadable(ValueError):
    """A stored key cannot be decrypted (the encryption key changed)."""


def _fernet() -> Fernet:
    configured = getattr(settings, "EVALS_ENCRYPTION_KEY", "")
    if configured:
        return Fernet(configured.encode() if isinstance(configured, str) else configured)
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"agentops-evals", info=b"endpoint-api-keys").derive(
        settings.SECRET_KEY.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(secret: str) -> bytes:
    return _fernet().encrypt(secret.encode()) if secret else b""


def decrypt(token: bytes | memoryview) -> str:
    if not token:
        return ""
    try:
        return _fernet().decrypt(bytes(token)).decode()
    except InvalidToken as exc:
        raise KeyUnreadable("the stored API key cannot be decrypted (encryption key changed): enter it again") from exc

"""Idempotency keys kept without a usable secret at rest.

A client's ``Idempotency-Key`` is stored only as ``HMAC-SHA256(SECRET_KEY, key)``, and the first response (which
holds the citizen's tracking token) only sealed with AES-256-GCM under a key derived by HKDF-SHA256 from the
server secret *and* the Idempotency-Key itself, bound to the row's key hash. So the rows alone (a database dump)
reveal no token and no key, the server secret alone opens nothing, and the Idempotency-Key alone (without the
secret) neither: a replay needs the client's key and the server's secret together, which is what a genuine retry
brings. Keys should be random (report.js sends a UUID); one guessable by someone holding both the dump and the
secret is only as private as its guess is hard.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_HASH_CONTEXT = b"civic-mapper idempotency-key hash v1\0"
SEAL_SALT = b"civic-mapper idempotency response seal v1"
NONCE_BYTES = 12


class Unsealable(Exception):
    """A stored response that the given secret and key do not open (tampered with, or another secret)."""


def key_hash(secret: str, key: str) -> bytes:
    """What is stored of an Idempotency-Key."""
    return hmac.new(secret.encode(), KEY_HASH_CONTEXT + key.encode(), hashlib.sha256).digest()


def _cipher(secret: str, key: str) -> AESGCM:
    derived = HKDF(algorithm=SHA256(), length=32, salt=SEAL_SALT, info=key.encode()).derive(secret.encode())
    return AESGCM(derived)


def seal(secret: str, key: str, response: dict) -> bytes:
    """``response`` as JSON, encrypted and authenticated (nonce ‖ ciphertext ‖ tag), bound to the key's hash."""
    nonce = os.urandom(NONCE_BYTES)
    plain = json.dumps(response, default=str).encode()
    return nonce + _cipher(secret, key).encrypt(nonce, plain, key_hash(secret, key))


def unseal(secret: str, key: str, sealed: bytes) -> dict:
    """The response ``seal`` was given; ``Unsealable`` when this secret and key do not open it."""
    sealed = bytes(sealed)
    try:
        plain = _cipher(secret, key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], key_hash(secret, key))
    except InvalidTag:
        raise Unsealable("the stored response does not open with this secret and key") from None
    return json.loads(plain)

"""Personal data at rest: AES-256-GCM sealing under rotatable data keys, and keyed hashes for lookups.

Data keys come from `LEADMARKET_DATA_KEYS` ("kid1:base64key,kid2:base64key"): the first seals, every
one opens. A key derived from `LEADMARKET_SECRET_KEY` (HKDF-SHA256) is always in the ring as well:
when no keys are configured it is the current one (a first run works without configuration), and
once keys are configured it still opens what it sealed until `leadmarket keys rotate-data` has
re-sealed every row under the current key.

A sealed value is `01 | len(kid) | kid | nonce(12) | AES-GCM(ciphertext + tag)`; the purpose (which
column it belongs to) is the associated data, so a blob copied into another column does not open.

Keyed hashes (HMAC-SHA256) stand in for e-mails and phones wherever a value must be looked up
(dedupe claims, person keys); the key is `LEADMARKET_HASH_KEY`, by default the secret key itself
(the key earlier releases hashed with, so existing claims keep matching).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from leadmarket.settings import Settings, current_settings

VERSION = b"\x01"
NONCE_BYTES = 12
KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


class KeyConfigError(ValueError):
    """LEADMARKET_DATA_KEYS cannot be read; the message names the entry, never the key."""


class CannotOpen(Exception):
    """A sealed value whose key is not in the ring, or that was altered."""


@dataclass(frozen=True)
class Keyring:
    current_id: str
    ciphers: dict[str, AESGCM]

    @property
    def key_ids(self) -> list[str]:
        return list(self.ciphers)


def parse_data_keys(spec: str) -> list[tuple[str, bytes]]:
    """"kid1:base64key,kid2:base64key" -> [(kid, key)], first is current. Keys are 16, 24 or 32 bytes."""
    keys: list[tuple[str, bytes]] = []
    for position, entry in enumerate(part.strip() for part in spec.split(",")):
        if not entry:
            continue
        kid, sep, encoded = entry.partition(":")
        if not sep or not KEY_ID.match(kid):
            raise KeyConfigError(f"LEADMARKET_DATA_KEYS entry {position + 1}: write it as kid:base64key, "
                                 "the kid 1 to 32 letters, digits, '.', '_' or '-'")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise KeyConfigError(f"LEADMARKET_DATA_KEYS key {kid!r} is not base64") from None
        if len(key) not in (16, 24, 32):
            raise KeyConfigError(f"LEADMARKET_DATA_KEYS key {kid!r} must be 16, 24 or 32 bytes (32 recommended)")
        if kid in (k for k, _ in keys):
            raise KeyConfigError(f"LEADMARKET_DATA_KEYS names key {kid!r} twice")
        keys.append((kid, key))
    return keys


def derived_key(secret_key: str) -> tuple[str, bytes]:
    """The data key HKDF derives from the secret key, and its id (`s-` and a fingerprint)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"leadmarket personal data v1").derive(secret_key.encode())
    return "s-" + hashlib.sha256(b"kid" + key).hexdigest()[:8], key


@lru_cache(maxsize=16)
def _keyring(secret_key: str, data_keys: str | None) -> Keyring:
    configured = parse_data_keys(data_keys or "")
    derived_id, derived = derived_key(secret_key)
    ring = {kid: AESGCM(key) for kid, key in configured}
    ring.setdefault(derived_id, AESGCM(derived))
    return Keyring(current_id=configured[0][0] if configured else derived_id, ciphers=ring)


def keyring(settings: Settings | None = None) -> Keyring:
    settings = settings or current_settings()
    return _keyring(settings.secret_key, settings.data_keys)


def seal(plaintext: bytes, purpose: bytes, *, ring: Keyring | None = None) -> bytes:
    ring = ring or keyring()
    kid = ring.current_id.encode()
    nonce = os.urandom(NONCE_BYTES)
    return VERSION + bytes([len(kid)]) + kid + nonce + ring.ciphers[ring.current_id].encrypt(nonce, plaintext, purpose)


def key_id(sealed: bytes) -> str:
    if sealed[:1] != VERSION or len(sealed) < 2:
        raise CannotOpen("not a sealed value")
    return bytes(sealed[2:2 + sealed[1]]).decode()


def open_sealed(sealed: bytes, purpose: bytes, *, ring: Keyring | None = None) -> bytes:
    ring = ring or keyring()
    kid = key_id(sealed)
    cipher = ring.ciphers.get(kid)
    if cipher is None:
        raise CannotOpen(f"sealed under key {kid!r}, which is not in LEADMARKET_DATA_KEYS")
    start = 2 + len(kid.encode())
    nonce, body = sealed[start:start + NONCE_BYTES], sealed[start + NONCE_BYTES:]
    try:
        return cipher.decrypt(bytes(nonce), bytes(body), purpose)
    except InvalidTag:
        raise CannotOpen(f"a value sealed under key {kid!r} does not open: altered, or another column's") from None


def seal_json(value: dict[str, Any], purpose: bytes, *, ring: Keyring | None = None) -> bytes:
    return seal(_json_encoder.encode(value), purpose, ring=ring)


def open_json(sealed: bytes, purpose: bytes, *, ring: Keyring | None = None) -> dict[str, Any]:
    value = _json_decoder.decode(open_sealed(sealed, purpose, ring=ring))
    assert isinstance(value, dict)
    return value


def is_current(sealed: bytes, ring: Keyring | None = None) -> bool:
    return key_id(sealed) == (ring or keyring()).current_id


def hash_key(settings: Settings | None = None) -> bytes:
    settings = settings or current_settings()
    return (settings.hash_key or settings.secret_key).encode()


def keyed_hash(kind: str, value: str, settings: Settings | None = None) -> bytes:
    """HMAC-SHA256 of a normalized value under the hash key; `kind` keeps kinds apart."""
    return hmac.digest(hash_key(settings), f"{kind}:{value}".encode(), "sha256")  # one-shot, in C


def new_data_key() -> str:
    """A fresh 256-bit key, base64, for LEADMARKET_DATA_KEYS."""
    return base64.b64encode(os.urandom(32)).decode()

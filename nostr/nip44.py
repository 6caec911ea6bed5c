"""NIP-44 version 2 encrypted payloads.

Written from the NIP-44 specification: secp256k1 ECDH (the shared point's bare x
coordinate), HKDF-SHA256, ChaCha20 (RFC 8439, counter 0) and HMAC-SHA256 over
``nonce || ciphertext``. Every failure raises :class:`Nip44Error`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from functools import lru_cache

from coincurve import PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from .keys import private_key_bytes

__all__ = [
    "MAX_PLAINTEXT_SIZE",
    "MIN_PLAINTEXT_SIZE",
    "ConversationKeyCache",
    "Nip44Error",
    "calc_padded_len",
    "decrypt",
    "encrypt",
    "get_conversation_key",
    "get_message_keys",
    "pad",
    "unpad",
]

VERSION = 2
MIN_PLAINTEXT_SIZE = 1
MAX_PLAINTEXT_SIZE = 65535
_SALT = b"nip44-v2"
_VERSION_BYTE = b"\x02"
_COUNTER_ZERO = bytes(4)  # cryptography's ChaCha20 nonce is counter (LE) || nonce
_SHA256 = SHA256()
# Base64 payload and decoded payload bounds, from the specification.
_MIN_PAYLOAD_CHARS, _MAX_PAYLOAD_CHARS = 132, 87472
_MIN_DATA_BYTES, _MAX_DATA_BYTES = 99, 65603


class Nip44Error(ValueError):
    """A NIP-44 payload, key or plaintext was rejected."""


def get_conversation_key(private_key_hex: str, public_key_hex: str) -> bytes:
    """The 32-byte conversation key between our private key and a peer's x-only key.

    ``HKDF-extract(salt="nip44-v2", IKM=x(priv * pub))``; the shared x coordinate is
    used unhashed (which is why coincurve's ``ecdh()`` is not used).
    """
    try:
        secret = private_key_bytes(private_key_hex)
    except ValueError as exc:
        raise Nip44Error(str(exc)) from None
    try:
        peer = bytes.fromhex(public_key_hex)
    except (TypeError, ValueError):
        raise Nip44Error("public key is not hex") from None
    if len(peer) != 32:
        raise Nip44Error("public key must be 32 bytes")
    try:
        point = PublicKey(b"\x02" + peer)
    except ValueError:
        raise Nip44Error("public key is not a valid secp256k1 x coordinate") from None
    shared_x = point.multiply(secret).format()[1:]
    return hmac.digest(_SALT, shared_x, "sha256")


def get_message_keys(
    conversation_key: bytes, nonce: bytes
) -> tuple[bytes, bytes, bytes]:
    """``(chacha_key, chacha_nonce, hmac_key)`` = HKDF-expand(key, nonce, 76)."""
    if not isinstance(conversation_key, bytes) or len(conversation_key) != 32:
        raise Nip44Error("conversation key must be 32 bytes")
    if not isinstance(nonce, bytes) or len(nonce) != 32:
        raise Nip44Error("nonce must be 32 bytes")
    keys = HKDFExpand(_SHA256, 76, nonce).derive(conversation_key)
    return keys[:32], keys[32:44], keys[44:76]


def calc_padded_len(unpadded_len: int) -> int:
    """Length of the padded plaintext (without its 2-byte length prefix)."""
    if unpadded_len < MIN_PLAINTEXT_SIZE:
        raise Nip44Error(f"plaintext length {unpadded_len} is below 1")
    if unpadded_len <= 32:
        return 32
    next_power = 1 << (unpadded_len - 1).bit_length()
    chunk = 32 if next_power <= 256 else next_power // 8
    return chunk * ((unpadded_len - 1) // chunk + 1)


def pad(plaintext: str) -> bytes:
    """``u16_be(len) || utf8(plaintext) || zeros`` up to the padded length."""
    if not isinstance(plaintext, str):
        raise Nip44Error("plaintext must be a string")
    try:
        unpadded = plaintext.encode("utf-8")
    except UnicodeEncodeError:
        raise Nip44Error("plaintext is not encodable as UTF-8") from None
    size = len(unpadded)
    if not MIN_PLAINTEXT_SIZE <= size <= MAX_PLAINTEXT_SIZE:
        raise Nip44Error(f"plaintext must be 1..65535 bytes, got {size}")
    return size.to_bytes(2, "big") + unpadded + bytes(calc_padded_len(size) - size)


def unpad(padded: bytes) -> str:
    """Inverse of :func:`pad`; the padding bytes themselves are not inspected."""
    size = int.from_bytes(padded[:2], "big")
    if size < MIN_PLAINTEXT_SIZE or len(padded) != 2 + calc_padded_len(size):
        raise Nip44Error("invalid padding")
    try:
        return padded[2 : 2 + size].decode("utf-8")
    except UnicodeDecodeError:
        raise Nip44Error("plaintext is not valid UTF-8") from None


def _chacha20(key: bytes, nonce: bytes, data: bytes | memoryview) -> bytes:
    return (
        Cipher(algorithms.ChaCha20(key, _COUNTER_ZERO + nonce), None)
        .encryptor()
        .update(data)
    )


def encrypt(plaintext: str, conversation_key: bytes, nonce: bytes | None = None) -> str:
    """Encrypt to a base64 NIP-44 v2 payload. ``nonce`` is for test vectors only."""
    if nonce is None:
        nonce = secrets.token_bytes(32)
    chacha_key, chacha_nonce, hmac_key = get_message_keys(conversation_key, nonce)
    body = _VERSION_BYTE + nonce + _chacha20(chacha_key, chacha_nonce, pad(plaintext))
    mac = hmac.digest(hmac_key, memoryview(body)[1:], "sha256")  # nonce||ciphertext
    return base64.b64encode(body + mac).decode("ascii")


def decrypt(payload: str, conversation_key: bytes) -> str:
    """Decrypt a base64 NIP-44 v2 payload; :class:`Nip44Error` on any failure."""
    if not isinstance(payload, str):
        raise Nip44Error("payload must be a string")
    if payload[:1] == "#":
        raise Nip44Error("unknown encryption version")
    size = len(payload)
    if not _MIN_PAYLOAD_CHARS <= size <= _MAX_PAYLOAD_CHARS:
        raise Nip44Error(f"invalid payload length: {size}")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise Nip44Error("invalid base64") from None
    size = len(data)
    if not _MIN_DATA_BYTES <= size <= _MAX_DATA_BYTES:
        raise Nip44Error(f"invalid data length: {size}")
    if data[0] != VERSION:
        raise Nip44Error(f"unknown encryption version {data[0]}")
    chacha_key, chacha_nonce, hmac_key = get_message_keys(conversation_key, data[1:33])
    view = memoryview(data)
    mac = hmac.digest(hmac_key, view[1:-32], "sha256")  # nonce||ciphertext
    if not hmac.compare_digest(mac, view[-32:]):
        raise Nip44Error("invalid MAC")
    return unpad(_chacha20(chacha_key, chacha_nonce, view[33:-32]))


class ConversationKeyCache:
    """A bounded LRU of conversation keys, so ECDH runs once per (our key, peer).

    ``get`` returns the same ``bytes`` object for a repeated pair. Entries are keyed
    by the strings as given, so pass lowercase hex (``normalize_pubkey``). Failures
    are not cached. Safe to share between threads and tasks.
    """

    def __init__(self, maxsize: int = 4096) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._get = lru_cache(maxsize=maxsize)(get_conversation_key)

    def get(self, private_key_hex: str, peer_pubkey_hex: str) -> bytes:
        return self._get(private_key_hex, peer_pubkey_hex)

    def __len__(self) -> int:
        return self._get.cache_info().currsize

    def clear(self) -> None:
        self._get.cache_clear()

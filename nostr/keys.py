"""secp256k1 keys as Nostr uses them: 32-byte secrets, x-only (BIP-340) public keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from coincurve import PublicKeyXOnly

from .nip19 import npub_encode, nsec_encode

__all__ = [
    "CURVE_ORDER",
    "KeyPair",
    "generate_private_key",
    "private_key_bytes",
    "public_key_hex",
]

CURVE_ORDER = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")


def private_key_bytes(private_key_hex: str) -> bytes:
    """The 32-byte secret of a 64-char hex private key; ``ValueError`` unless in 1..n-1.

    The message never includes the key.
    """
    if (
        not isinstance(private_key_hex, str)
        or len(private_key_hex) != 64
        or not set(private_key_hex) <= _HEXDIGITS
    ):
        raise ValueError("private key must be 64 hex characters")
    raw = bytes.fromhex(private_key_hex)
    if not 0 < int.from_bytes(raw, "big") < CURVE_ORDER:
        raise ValueError("private key is outside 1..n-1")
    return raw


def generate_private_key() -> str:
    while True:
        raw = secrets.token_bytes(32)
        if 0 < int.from_bytes(raw, "big") < CURVE_ORDER:
            return raw.hex()


def public_key_hex(private_key_hex: str) -> str:
    """The x-only public key (64-char lowercase hex) of a hex private key."""
    return PublicKeyXOnly.from_secret(private_key_bytes(private_key_hex)).format().hex()


@dataclass(frozen=True)
class KeyPair:
    """A private key and its x-only public key, both lowercase hex.

    The private key is left out of ``repr``; the constructor checks that the two
    keys belong together.
    """

    private_key_hex: str = field(repr=False)
    public_key_hex: str

    def __post_init__(self) -> None:
        if public_key_hex(self.private_key_hex) != self.public_key_hex:
            raise ValueError("public key does not belong to the private key")

    @classmethod
    def generate(cls) -> KeyPair:
        return cls.from_private_key(generate_private_key())

    @classmethod
    def from_private_key(cls, private_key_hex: str) -> KeyPair:
        normalized = private_key_bytes(private_key_hex).hex()
        return cls(normalized, public_key_hex(normalized))

    @property
    def npub(self) -> str:
        return npub_encode(self.public_key_hex)

    @property
    def nsec(self) -> str:
        return nsec_encode(self.private_key_hex)

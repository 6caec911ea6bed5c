"""NIP-19 bech32 keys: ``npub`` and ``nsec`` (32 bytes each, plain bech32).

Error messages never echo the input: a pasted ``nsec`` must not end up in a log.
"""

from __future__ import annotations

from bech32 import CHARSET, bech32_decode, bech32_encode, convertbits
from coincurve import PublicKeyXOnly

__all__ = [
    "normalize_pubkey",
    "npub_decode",
    "npub_encode",
    "nsec_decode",
    "nsec_encode",
]

_NOT_A_PUBKEY = "not a valid npub or 64-character hex public key"
_HEXDIGITS = frozenset("0123456789abcdefABCDEF")


def _encode(hrp: str, raw: bytes) -> str:
    words = convertbits(raw, 8, 5, True)
    assert words is not None  # 8-to-5 with padding cannot fail
    return bech32_encode(hrp, words)


def _hex32(value: str, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEXDIGITS:
        raise ValueError(f"{what} must be 64 hex characters")
    return bytes.fromhex(value)


def _why_not_bech32(text: str) -> str:
    lower = text.lower()
    if text not in (lower, text.upper()):
        return "bech32 string mixes upper and lower case"
    sep = lower.rfind("1")
    if sep < 1 or len(lower) - sep - 1 < 6:
        return "not a bech32 string"
    if any(not 33 <= ord(c) <= 126 for c in lower[:sep]) or not set(
        lower[sep + 1 :]
    ) <= set(CHARSET):
        return "bech32 string has invalid characters"
    return "bad bech32 checksum"


def _decode(hrp: str, value: str) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"{hrp} must be a string")
    text = value.strip()
    found_hrp, words = bech32_decode(text)
    if found_hrp is None or words is None:
        raise ValueError(_why_not_bech32(text))
    if found_hrp != hrp:
        raise ValueError(f"wrong prefix: expected '{hrp}', got '{found_hrp}'")
    raw = convertbits(words, 5, 8, False)
    if raw is None:
        raise ValueError(f"{hrp} has invalid bech32 padding")
    if len(raw) != 32:
        raise ValueError(f"wrong length: {hrp} must hold 32 bytes, got {len(raw)}")
    return bytes(raw)


# The four codecs check the encoding only; normalize_pubkey and keys.KeyPair check
# that the key is usable.


def npub_encode(pubkey_hex: str) -> str:
    return _encode("npub", _hex32(pubkey_hex, "public key"))


def npub_decode(npub: str) -> str:
    """The 64-char lowercase hex inside an npub."""
    return _decode("npub", npub).hex()


def nsec_encode(private_key_hex: str) -> str:
    return _encode("nsec", _hex32(private_key_hex, "private key"))


def nsec_decode(nsec: str) -> str:
    """The 64-char lowercase hex inside an nsec."""
    return _decode("nsec", nsec).hex()


def normalize_pubkey(value: str) -> str:
    """An npub or 64-char hex key (any case, padded by whitespace) as lowercase hex.

    Raises ``ValueError`` unless the key is an x coordinate on secp256k1.
    """
    if not isinstance(value, str):
        raise ValueError(f"{_NOT_A_PUBKEY}: expected a string")
    text = value.strip()
    if not text:
        raise ValueError(f"{_NOT_A_PUBKEY}: empty")
    if set(text) <= _HEXDIGITS:
        if len(text) != 64:
            raise ValueError(
                f"{_NOT_A_PUBKEY}: wrong length: hex key has {len(text)} characters"
            )
        raw = bytes.fromhex(text)
    else:
        try:
            raw = _decode("npub", text)
        except ValueError as exc:
            raise ValueError(f"{_NOT_A_PUBKEY}: {exc}") from None
    try:
        PublicKeyXOnly(raw)
    except ValueError:
        raise ValueError(f"{_NOT_A_PUBKEY}: not a point on secp256k1") from None
    return raw.hex()

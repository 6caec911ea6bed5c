"""NIP-19 npub/nsec codecs, normalize_pubkey and the KeyPair helpers."""

from __future__ import annotations

import pytest
from bech32 import bech32_encode, convertbits

from satmachineadmin.nostr.keys import (
    KeyPair,
    generate_private_key,
    private_key_bytes,
    public_key_hex,
)
from satmachineadmin.nostr.nip19 import (
    normalize_pubkey,
    npub_decode,
    npub_encode,
    nsec_decode,
    nsec_encode,
)

# The examples in the NIP-19 text.
SPEC_HEX_PUB = "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d"
SPEC_NPUB = "npub180cvv07tjdrrgpa0j7j7tmnyl2yr6yr7l8j4s3evf6u64th6gkwsyjh6w6"
SPEC_HEX_SEC = "67dea2ed018072d675f5415ecfaed7d2597555e202d85b3d65ea4e58d2d92ffa"
SPEC_NSEC = "nsec1vl029mgpspedva04g90vltkh6fvh240zqtv9k0t9af8935ke9laqsnlfe5"
# BIP-340 test vector 0: secret key 3, public key = x(3G).
SK3 = "00" * 31 + "03"
PK3 = "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"

NOT_A_PUBKEY = "not a valid npub or 64-character hex public key"


def _bech32(hrp: str, raw: bytes) -> str:
    words = convertbits(raw, 8, 5, True)
    assert words is not None
    return bech32_encode(hrp, words)


def test_spec_vectors():
    assert npub_encode(SPEC_HEX_PUB) == SPEC_NPUB
    assert npub_decode(SPEC_NPUB) == SPEC_HEX_PUB
    assert nsec_encode(SPEC_HEX_SEC) == SPEC_NSEC
    assert nsec_decode(SPEC_NSEC) == SPEC_HEX_SEC


def test_encoders_accept_upper_case_hex_and_decoders_upper_case_bech32():
    assert npub_encode(SPEC_HEX_PUB.upper()) == SPEC_NPUB
    assert npub_decode(SPEC_NPUB.upper()) == SPEC_HEX_PUB
    assert nsec_decode(f"  {SPEC_NSEC}\n") == SPEC_HEX_SEC


@pytest.mark.parametrize("round_", range(20))
def test_round_trips(round_):
    secret = generate_private_key()
    public = public_key_hex(secret)
    assert len(secret) == len(public) == 64
    assert nsec_decode(nsec_encode(secret)) == secret
    npub = npub_encode(public)
    assert npub.startswith("npub1")
    assert len(npub) == 63
    assert npub_decode(npub) == public
    assert normalize_pubkey(npub) == public


def test_codecs_reject_the_other_kind():
    with pytest.raises(ValueError, match="expected 'npub', got 'nsec'"):
        npub_decode(SPEC_NSEC)
    with pytest.raises(ValueError, match="expected 'nsec', got 'npub'"):
        nsec_decode(SPEC_NPUB)
    with pytest.raises(ValueError, match="64 hex"):
        npub_encode(SPEC_HEX_PUB[:-1])
    with pytest.raises(ValueError, match="64 hex"):
        nsec_encode("zz" * 32)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(SPEC_HEX_PUB, id="hex"),
        pytest.param(SPEC_HEX_PUB.upper(), id="HEX"),
        pytest.param(f" \t{SPEC_HEX_PUB}\n ", id="hex-whitespace"),
        pytest.param(SPEC_NPUB, id="npub"),
        pytest.param(SPEC_NPUB.upper(), id="NPUB"),
        pytest.param(f"\n{SPEC_NPUB}  ", id="npub-whitespace"),
    ],
)
def test_normalize_pubkey_accepts(value):
    assert normalize_pubkey(value) == SPEC_HEX_PUB


def _flip_last_char(text: str) -> str:
    return text[:-1] + ("q" if text[-1] != "q" else "p")


def _npub_with_padding_bits() -> str:
    words = convertbits(bytes.fromhex(SPEC_HEX_PUB), 8, 5, True)
    assert words is not None
    words[-1] |= 1  # 256 bits fill 52 words with 4 bits to spare, which must be 0
    return bech32_encode("npub", words)


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        pytest.param("", "empty", id="empty"),
        pytest.param("   \n", "empty", id="blank"),
        pytest.param(SPEC_HEX_PUB[:-1], "wrong length", id="hex63"),
        pytest.param("02" + SPEC_HEX_PUB, "wrong length", id="hex66-compressed"),
        pytest.param(SPEC_NSEC, "expected 'npub', got 'nsec'", id="nsec"),
        pytest.param(
            _bech32("note", bytes.fromhex(SPEC_HEX_PUB)),
            "expected 'npub', got 'note'",
            id="note",
        ),
        pytest.param(_flip_last_char(SPEC_NPUB), "checksum", id="bad-checksum"),
        pytest.param(
            SPEC_NPUB[:10] + SPEC_NPUB[10:].upper(), "mixes upper and lower", id="mixed"
        ),
        pytest.param(SPEC_NPUB[:-1] + "b", "invalid characters", id="char-b"),
        pytest.param("hello world", "not a bech32 string", id="words"),
        pytest.param("npub1", "not a bech32 string", id="npub1-only"),
        pytest.param(
            _bech32("npub", bytes.fromhex(SPEC_HEX_PUB)[:31]),
            "wrong length",
            id="npub-31-bytes",
        ),
        pytest.param(
            _bech32("npub", bytes.fromhex(SPEC_HEX_PUB) + b"\x00"),
            "wrong length",
            id="npub-33-bytes",
        ),
        pytest.param(_npub_with_padding_bits(), "padding", id="npub-padding"),
        pytest.param("ff" * 32, "not a point", id="hex-no-sqrt"),
        pytest.param("00" * 32, "not a point", id="hex-zero"),
        pytest.param(
            "eb1f7200aecaa86682376fb1c13cd12b732221e774f553b0a0857f88fa20f86d",
            "not a point",
            id="hex-twist",
        ),
        pytest.param(npub_encode("ff" * 32), "not a point", id="npub-no-sqrt"),
    ],
)
def test_normalize_pubkey_rejects(value, detail):
    with pytest.raises(ValueError) as raised:
        normalize_pubkey(value)
    message = str(raised.value)
    assert message.startswith(NOT_A_PUBKEY)
    assert detail in message
    if len(value.strip()) > 8:
        assert value.strip() not in message  # never echo (it may be an nsec)


@pytest.mark.parametrize("value", [None, b"\x00" * 32, 42])
def test_normalize_pubkey_rejects_non_strings(value):
    with pytest.raises(ValueError, match=NOT_A_PUBKEY):
        normalize_pubkey(value)


# --- keys --------------------------------------------------------------------------


def test_public_key_of_a_known_secret():
    assert public_key_hex(SK3) == PK3
    assert public_key_hex(SK3.upper()) == PK3


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param("00" * 32, id="zero"),
        pytest.param(
            "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", id="n"
        ),
        pytest.param("ff" * 32, id="above-n"),
        pytest.param("03", id="short"),
        pytest.param("zz" * 32, id="not-hex"),
        pytest.param(" " + SK3[1:], id="space"),
    ],
)
def test_bad_private_keys_are_rejected(secret):
    with pytest.raises(ValueError) as raised:
        private_key_bytes(secret)
    assert secret not in str(raised.value)
    with pytest.raises(ValueError):
        public_key_hex(secret)
    with pytest.raises(ValueError):
        KeyPair.from_private_key(secret)


def test_keypair():
    pair = KeyPair.from_private_key(SK3.upper())
    assert pair.private_key_hex == SK3
    assert pair.public_key_hex == PK3
    assert pair.npub == npub_encode(PK3)
    assert nsec_decode(pair.nsec) == SK3
    assert SK3 not in repr(pair)
    assert SK3 not in str(pair)
    assert PK3 in repr(pair)
    with pytest.raises(AttributeError):
        pair.public_key_hex = "00" * 32  # type: ignore[misc]


def test_keypair_from_spec_nsec():
    pair = KeyPair.from_private_key(nsec_decode(SPEC_NSEC))
    assert pair.nsec == SPEC_NSEC
    assert normalize_pubkey(pair.npub) == pair.public_key_hex


def test_keypair_generate_and_mismatch():
    first, second = KeyPair.generate(), KeyPair.generate()
    assert first != second
    assert public_key_hex(first.private_key_hex) == first.public_key_hex
    assert first.private_key_hex not in repr(first)
    with pytest.raises(ValueError, match="does not belong"):
        KeyPair(first.private_key_hex, second.public_key_hex)

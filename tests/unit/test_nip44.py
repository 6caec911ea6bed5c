"""NIP-44 v2 against every official test vector, plus the conversation-key cache."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest

from satmachineadmin.nostr.keys import generate_private_key, public_key_hex
from satmachineadmin.nostr.nip44 import (
    ConversationKeyCache,
    Nip44Error,
    calc_padded_len,
    decrypt,
    encrypt,
    get_conversation_key,
    get_message_keys,
    pad,
    unpad,
)

VECTORS_FILE = Path(__file__).resolve().parents[1] / "vectors" / "nip44.vectors.json"
# sha256 of the official file (paulmillr/nip44), so that an edited copy is noticed.
VECTORS_SHA256 = "269ed0f69e4c192512cc779e78c555090cebc7c785b609e338a62afc3ce25040"
VECTORS = json.loads(VECTORS_FILE.read_bytes())["v2"]
VALID = VECTORS["valid"]
INVALID = VECTORS["invalid"]


def _id(prefix: str, index: int, vector: dict) -> str:
    note = vector.get("note")
    return f"{prefix}{index}-{note}" if note else f"{prefix}{index}"


def _params(group: list[dict], prefix: str) -> list:
    return [pytest.param(v, id=_id(prefix, i, v)) for i, v in enumerate(group)]


def test_vectors_file_is_the_official_one():
    assert hashlib.sha256(VECTORS_FILE.read_bytes()).hexdigest() == VECTORS_SHA256
    assert len(VALID["get_conversation_key"]) == 35
    assert len(VALID["get_message_keys"]["keys"]) == 32
    assert len(VALID["calc_padded_len"]) == 24
    assert len(VALID["encrypt_decrypt"]) == 10
    assert len(VALID["encrypt_decrypt_long_msg"]) == 3
    assert len(INVALID["encrypt_msg_lengths"]) == 4
    assert len(INVALID["get_conversation_key"]) == 8
    assert len(INVALID["decrypt"]) == 12


# --- valid vectors ---------------------------------------------------------------


@pytest.mark.parametrize("v", _params(VALID["get_conversation_key"], "ck"))
def test_get_conversation_key(v):
    key = get_conversation_key(v["sec1"], v["pub2"])
    assert key.hex() == v["conversation_key"]


MESSAGE_KEYS_CK = bytes.fromhex(VALID["get_message_keys"]["conversation_key"])


@pytest.mark.parametrize("v", _params(VALID["get_message_keys"]["keys"], "mk"))
def test_get_message_keys(v):
    chacha_key, chacha_nonce, hmac_key = get_message_keys(
        MESSAGE_KEYS_CK, bytes.fromhex(v["nonce"])
    )
    assert chacha_key.hex() == v["chacha_key"]
    assert chacha_nonce.hex() == v["chacha_nonce"]
    assert hmac_key.hex() == v["hmac_key"]


@pytest.mark.parametrize(
    ("unpadded", "padded"),
    [pytest.param(u, p, id=f"{u}->{p}") for u, p in VALID["calc_padded_len"]],
)
def test_calc_padded_len(unpadded, padded):
    assert calc_padded_len(unpadded) == padded


@pytest.mark.parametrize("v", _params(VALID["encrypt_decrypt"], "ed"))
def test_encrypt_decrypt(v):
    key = bytes.fromhex(v["conversation_key"])
    pub1, pub2 = public_key_hex(v["sec1"]), public_key_hex(v["sec2"])
    # Both sides derive the same key.
    assert get_conversation_key(v["sec1"], pub2) == key
    assert get_conversation_key(v["sec2"], pub1) == key

    payload = encrypt(v["plaintext"], key, bytes.fromhex(v["nonce"]))
    assert payload == v["payload"]
    assert decrypt(v["payload"], key) == v["plaintext"]


@pytest.mark.parametrize("v", _params(VALID["encrypt_decrypt_long_msg"], "long"))
def test_encrypt_decrypt_long_msg(v):
    plaintext = v["pattern"] * v["repeat"]
    encoded = plaintext.encode()
    assert len(encoded) <= 65535
    assert hashlib.sha256(encoded).hexdigest() == v["plaintext_sha256"]
    key = bytes.fromhex(v["conversation_key"])

    payload = encrypt(plaintext, key, bytes.fromhex(v["nonce"]))
    assert hashlib.sha256(payload.encode()).hexdigest() == v["payload_sha256"]
    assert decrypt(payload, key) == plaintext


# --- invalid vectors -------------------------------------------------------------


@pytest.mark.parametrize(
    "length", [pytest.param(n, id=f"len{n}") for n in INVALID["encrypt_msg_lengths"]]
)
def test_encrypt_rejects_message_length(length):
    key = bytes(range(32))
    with pytest.raises(Nip44Error, match=r"1\.\.65535"):
        encrypt("a" * length, key)
    with pytest.raises(Nip44Error):
        pad("a" * length)


@pytest.mark.parametrize("v", _params(INVALID["decrypt"], "bad"))
def test_decrypt_rejects(v):
    with pytest.raises(Nip44Error) as raised:
        decrypt(v["payload"], bytes.fromhex(v["conversation_key"]))
    # Our messages follow the vectors' notes.
    assert v["note"] in str(raised.value)


@pytest.mark.parametrize("v", _params(INVALID["get_conversation_key"], "badck"))
def test_get_conversation_key_rejects(v):
    with pytest.raises(Nip44Error) as raised:
        get_conversation_key(v["sec1"], v["pub2"])
    blamed = "private key" if v["note"].startswith("sec1") else "public key"
    assert blamed in str(raised.value)


# --- edges and round trips -------------------------------------------------------

KEY = bytes.fromhex(VALID["encrypt_decrypt"][0]["conversation_key"])


def test_plaintext_limits_are_bytes_not_characters():
    assert decrypt(encrypt("a", KEY), KEY) == "a"
    assert decrypt(encrypt("a" * 65535, KEY), KEY) == "a" * 65535
    # 16384 four-byte characters are 65536 bytes.
    with pytest.raises(Nip44Error):
        encrypt("\U0001f984" * 16384, KEY)
    with pytest.raises(Nip44Error):
        encrypt("", KEY)


def test_pad_layout_and_unpad():
    padded = pad("héllo")
    assert padded == b"\x00\x06h\xc3\xa9llo" + bytes(26)
    assert unpad(padded) == "héllo"
    assert len(pad("a" * 33)) == 2 + 64
    with pytest.raises(Nip44Error, match="padding"):
        unpad(padded[:-1])
    with pytest.raises(Nip44Error, match="padding"):
        unpad(b"\x00\x00" + bytes(32))


def test_random_nonce_round_trip():
    first, second = encrypt("hello", KEY), encrypt("hello", KEY)
    assert first != second
    assert decrypt(first, KEY) == decrypt(second, KEY) == "hello"


def test_every_flipped_byte_is_rejected():
    raw = base64.b64decode(encrypt("pay 1000 sats", KEY))
    for index in range(len(raw)):
        tampered = bytearray(raw)
        tampered[index] ^= 0x01
        with pytest.raises(Nip44Error):
            decrypt(base64.b64encode(tampered).decode(), KEY)


def test_wrong_key_and_bad_inputs_are_rejected():
    payload = encrypt("secret", KEY)
    with pytest.raises(Nip44Error, match="invalid MAC"):
        decrypt(payload, bytes(32))
    with pytest.raises(Nip44Error, match="base64"):
        decrypt(payload[:-4] + "!!!!", KEY)
    with pytest.raises(Nip44Error, match="base64"):
        decrypt("é" * 200, KEY)
    with pytest.raises(Nip44Error):
        decrypt(payload.encode(), KEY)  # type: ignore[arg-type]
    with pytest.raises(Nip44Error, match="conversation key"):
        decrypt(payload, KEY[:31])
    with pytest.raises(Nip44Error, match="nonce"):
        encrypt("x", KEY, b"\x00" * 31)
    with pytest.raises(Nip44Error, match="conversation key"):
        encrypt("x", KEY.hex())  # type: ignore[arg-type]


def test_nip44_error_is_a_value_error():
    assert issubclass(Nip44Error, ValueError)


# --- ConversationKeyCache --------------------------------------------------------

SK1 = VALID["encrypt_decrypt"][0]["sec1"]
SK2 = VALID["encrypt_decrypt"][0]["sec2"]


def test_cache_returns_the_same_object_for_a_repeated_peer():
    cache = ConversationKeyCache()
    pub2 = public_key_hex(SK2)
    first = cache.get(SK1, pub2)
    assert first.hex() == VALID["encrypt_decrypt"][0]["conversation_key"]
    assert cache.get(SK1, pub2) is first
    assert len(cache) == 1
    # The other side reaches the same key.
    assert cache.get(SK2, public_key_hex(SK1)) == first
    assert len(cache) == 2


def test_cache_keeps_peers_apart():
    cache = ConversationKeyCache()
    peers = [public_key_hex(generate_private_key()) for _ in range(5)]
    keys = [cache.get(SK1, peer) for peer in peers]
    assert len(set(keys)) == 5
    assert keys == [get_conversation_key(SK1, peer) for peer in peers]


def test_cache_is_bounded_and_evicts_the_least_recently_used():
    cache = ConversationKeyCache(maxsize=3)
    a, b, c, d = (public_key_hex(generate_private_key()) for _ in range(4))
    key_a, key_b = cache.get(SK1, a), cache.get(SK1, b)
    cache.get(SK1, c)
    assert cache.get(SK1, a) is key_a  # a is now the most recent
    cache.get(SK1, d)  # evicts b
    assert len(cache) == 3
    assert cache.get(SK1, a) is key_a
    again_b = cache.get(SK1, b)
    assert again_b == key_b
    assert again_b is not key_b
    assert len(cache) == 3
    cache.clear()
    assert len(cache) == 0


def test_cache_does_not_store_failures():
    cache = ConversationKeyCache(maxsize=2)
    with pytest.raises(Nip44Error):
        cache.get(SK1, "ff" * 32)
    assert len(cache) == 0
    with pytest.raises(ValueError):
        ConversationKeyCache(maxsize=0)

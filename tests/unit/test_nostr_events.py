"""NIP-01 events: serialization, id, signing, verification and parsing."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import FrozenInstanceError, replace

import pytest

from satmachineadmin.nostr.events import Event, event_id, sign_event, verify_event
from satmachineadmin.nostr.keys import generate_private_key, public_key_hex

SK3 = "00" * 31 + "03"
PK3 = "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9"
OTHER_PUB = "3bf0c63fcb93463407af97a5e5ee64fa883d107ef9e558472c4eb9aaaefa459d"

# Quotes, backslash, the escaped control characters, a bare control character, DEL,
# U+2028 and characters outside the BMP.
CONTENT = 'Say "hi"\n\tto the\\ATM: ñandú 🦄 \x01 \x7f \u2028 \r\b\f end'
TAGS = [["p", OTHER_PUB], ["t", "café", "ünï"], ["e"]]
# This event was signed by rust-nostr (nostr-sdk) with secret key 3: an id and a
# signature from an independent implementation.
FOREIGN_EVENT = {
    "id": "57d98697869bbf89a9033d286d077433e9547b61ec9cb9c4683b243d12ea3db6",
    "pubkey": PK3,
    "created_at": 1700000000,
    "kind": 1,
    "tags": TAGS,
    "content": CONTENT,
    "sig": "a110d77c56998e71499fc3341685b92c3cb3a07f472fe21d2231c3053e6ac1d9"
    "88bcd004314c277e75b4bfcbbc93c02151073c6b53ddd54f70dbff1ef7b4164c",
}
# The NIP-01 serialization of FOREIGN_EVENT, written out by hand.
SERIALIZED = (
    f'[0,"{PK3}",1700000000,1,'
    f'[["p","{OTHER_PUB}"],["t","café","ünï"],["e"]],'
    '"Say \\"hi\\"\\n\\tto the\\\\ATM: ñandú 🦄 \\u0001 \x7f \u2028 \\r\\b\\f end"]'
)


def test_event_id_matches_the_hand_written_serialization():
    expected = hashlib.sha256(SERIALIZED.encode("utf-8")).hexdigest()
    assert expected == FOREIGN_EVENT["id"]
    assert event_id(PK3, 1700000000, 1, TAGS, CONTENT) == expected


def test_event_id_matches_an_independent_json_dump():
    content = 'line1\nline2 "quoted" back\\slash €'
    tags = [["d", "x"]]
    serialized = json.dumps(
        [0, PK3, 1, 30078, tags, content], ensure_ascii=False, separators=(",", ":")
    )
    assert "\\u20ac" not in serialized  # non-ASCII stays verbatim
    expected = hashlib.sha256(serialized.encode()).hexdigest()
    assert event_id(PK3, 1, 30078, tags, content) == expected
    # Tuples serialize like lists.
    assert event_id(PK3, 1, 30078, (("d", "x"),), content) == expected


def test_event_from_another_implementation_verifies():
    assert verify_event(FOREIGN_EVENT)
    event = Event.from_dict(FOREIGN_EVENT)
    assert verify_event(event)
    assert event.to_dict() == FOREIGN_EVENT


def test_sign_then_verify():
    secret = generate_private_key()
    event = sign_event(
        private_key_hex=secret,
        kind=4,
        content=CONTENT,
        tags=[["p", OTHER_PUB]],
        created_at=1700000123,
    )
    assert event.pubkey == public_key_hex(secret)
    assert event.created_at == 1700000123
    assert event.kind == 4
    assert event.tags == [["p", OTHER_PUB]]
    assert event.content == CONTENT
    assert event.id == event_id(event.pubkey, 1700000123, 4, event.tags, CONTENT)
    assert len(event.sig) == 128
    assert verify_event(event)
    assert verify_event(event.to_dict())
    assert verify_event(json.loads(json.dumps(event.to_dict())))


def test_sign_defaults_and_fresh_randomness():
    before = int(time.time())
    first = sign_event(private_key_hex=SK3, kind=1, content="hello")
    assert before <= first.created_at <= int(time.time())
    assert first.tags == []
    assert first.pubkey == PK3
    second = sign_event(
        private_key_hex=SK3, kind=1, content="hello", created_at=first.created_at
    )
    assert second.id == first.id
    assert second.sig != first.sig  # BIP-340 auxiliary randomness
    assert verify_event(first) and verify_event(second)


def test_sign_copies_tags():
    tags = [["t", "a"]]
    event = sign_event(private_key_hex=SK3, kind=1, content="", tags=tags)
    tags[0].append("changed")
    assert event.tags == [["t", "a"]]
    assert verify_event(event)
    exported = event.to_dict()
    exported["tags"][0].append("changed")
    assert event.tags == [["t", "a"]]


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"private_key_hex": "00" * 32}, id="zero-key"),
        pytest.param({"private_key_hex": "xyz"}, id="garbage-key"),
        pytest.param({"kind": -1}, id="negative-kind"),
        pytest.param({"kind": 65536}, id="big-kind"),
        pytest.param({"content": None}, id="content-none"),
        pytest.param({"tags": [["p", 1]]}, id="tag-int"),
        pytest.param({"created_at": -5}, id="negative-time"),
        pytest.param({"content": "\ud800"}, id="lone-surrogate"),
    ],
)
def test_sign_rejects_bad_input(kwargs):
    arguments = {"private_key_hex": SK3, "kind": 1, "content": "x", **kwargs}
    with pytest.raises(ValueError):
        sign_event(**arguments)


SIGNED = sign_event(private_key_hex=SK3, kind=1, content="pay 1000 sats", created_at=1)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"content": "pay 9000 sats"}, id="content"),
        pytest.param({"id": "0" * 64}, id="id"),
        pytest.param(
            {"id": SIGNED.id[:-1] + ("0" if SIGNED.id[-1] != "0" else "1")},
            id="id-flip",
        ),
        pytest.param(
            {"sig": SIGNED.sig[:-1] + ("0" if SIGNED.sig[-1] != "0" else "1")},
            id="sig",
        ),
        pytest.param({"sig": "0" * 128}, id="sig-zero"),
        pytest.param({"pubkey": OTHER_PUB}, id="pubkey"),
        pytest.param({"pubkey": "ff" * 32}, id="pubkey-not-a-point"),
        pytest.param({"created_at": 2}, id="created_at"),
        pytest.param({"kind": 4}, id="kind"),
        pytest.param({"tags": [["p", OTHER_PUB]]}, id="tags"),
    ],
)
def test_tampered_events_fail(changes):
    assert verify_event(SIGNED)
    tampered = replace(SIGNED, **changes)
    assert tampered != SIGNED
    assert verify_event(tampered) is False
    assert verify_event({**SIGNED.to_dict(), **changes}) is False


def test_re_signed_tampered_id_fails():
    """A valid signature over the wrong id still fails: the id is recomputed."""
    other = sign_event(private_key_hex=SK3, kind=1, content="other", created_at=1)
    assert verify_event(replace(SIGNED, id=other.id, sig=other.sig)) is False


GOOD = SIGNED.to_dict()


def _without(name: str) -> dict:
    return {k: v for k, v in GOOD.items() if k != name}


GARBAGE = [
    *(pytest.param(_without(name), id=f"missing-{name}") for name in GOOD),
    pytest.param({**GOOD, "id": GOOD["id"][:-2]}, id="id-short"),
    pytest.param({**GOOD, "id": GOOD["id"].upper()}, id="id-upper"),
    pytest.param({**GOOD, "id": 5}, id="id-int"),
    pytest.param({**GOOD, "id": GOOD["id"] + "\n"}, id="id-newline"),
    pytest.param({**GOOD, "pubkey": "g" * 64}, id="pubkey-not-hex"),
    pytest.param({**GOOD, "pubkey": "02" + PK3}, id="pubkey-compressed"),
    pytest.param({**GOOD, "sig": GOOD["sig"][:64]}, id="sig-short"),
    pytest.param({**GOOD, "sig": None}, id="sig-none"),
    pytest.param({**GOOD, "created_at": "1"}, id="created_at-str"),
    pytest.param({**GOOD, "created_at": 1.0}, id="created_at-float"),
    pytest.param({**GOOD, "created_at": True}, id="created_at-bool"),
    pytest.param({**GOOD, "created_at": -1}, id="created_at-negative"),
    pytest.param({**GOOD, "kind": "1"}, id="kind-str"),
    pytest.param({**GOOD, "kind": -1}, id="kind-negative"),
    pytest.param({**GOOD, "kind": 65536}, id="kind-too-big"),
    pytest.param({**GOOD, "kind": False}, id="kind-bool"),
    pytest.param({**GOOD, "tags": "p"}, id="tags-str"),
    pytest.param({**GOOD, "tags": {"p": "x"}}, id="tags-dict"),
    pytest.param({**GOOD, "tags": ["p"]}, id="tags-flat"),
    pytest.param({**GOOD, "tags": [["p", 1]]}, id="tags-int"),
    pytest.param({**GOOD, "tags": [["p", None]]}, id="tags-none"),
    pytest.param({**GOOD, "tags": None}, id="tags-null"),
    pytest.param({**GOOD, "content": None}, id="content-none"),
    pytest.param({**GOOD, "content": ["x"]}, id="content-list"),
    pytest.param([], id="list"),
    pytest.param("event", id="str"),
    pytest.param(None, id="none"),
]


@pytest.mark.parametrize("data", GARBAGE)
def test_from_dict_rejects_garbage(data):
    with pytest.raises(ValueError):
        Event.from_dict(data)
    assert verify_event(data) is False


def test_from_dict_round_trip_and_immutability():
    event = Event.from_dict(GOOD)
    assert event == SIGNED
    assert event.to_dict() == GOOD
    assert Event.from_dict({**GOOD, "extra": "ignored"}) == SIGNED
    with pytest.raises(FrozenInstanceError):
        event.content = "changed"  # type: ignore[misc]

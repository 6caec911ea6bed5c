"""NIP-01 events: canonical id, BIP-340 Schnorr signature, verification."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coincurve import PrivateKey, PublicKeyXOnly

from .keys import private_key_bytes

__all__ = ["Event", "event_id", "sign_event", "verify_event"]

_FIELDS = ("id", "pubkey", "created_at", "kind", "tags", "content", "sig")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


def event_id(
    pubkey: str,
    created_at: int,
    kind: int,
    tags: Sequence[Sequence[str]],
    content: str,
) -> str:
    """Hex sha256 of ``[0,pubkey,created_at,kind,tags,content]`` as NIP-01 JSON."""
    serialized = json.dumps(
        [0, pubkey, created_at, kind, tags, content],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(serialized.encode("utf-8")).hexdigest()


def _checked_tags(tags: object) -> list[list[str]]:
    """A fresh ``list[list[str]]`` copy of ``tags``; ``ValueError`` otherwise."""
    if not isinstance(tags, list | tuple):
        raise ValueError("tags must be a list of lists of strings")
    copied = []
    for tag in tags:
        if not isinstance(tag, list | tuple) or not all(
            isinstance(v, str) for v in tag
        ):
            raise ValueError("tags must be a list of lists of strings")
        copied.append(list(tag))
    return copied


def _check_body(created_at: object, kind: object, content: object) -> None:
    # bool is an int subclass; JSON true/false is not a number.
    if (
        isinstance(created_at, bool)
        or not isinstance(created_at, int)
        or created_at < 0
    ):
        raise ValueError("created_at must be a non-negative integer")
    if isinstance(kind, bool) or not isinstance(kind, int) or not 0 <= kind <= 65535:
        raise ValueError("kind must be an integer in 0..65535")
    if not isinstance(content, str):
        raise ValueError("content must be a string")


@dataclass(frozen=True)
class Event:
    """A signed Nostr event. Construction checks shape only, not id or signature."""

    id: str
    pubkey: str
    created_at: int
    kind: int
    tags: list[list[str]]
    content: str
    sig: str

    def __post_init__(self) -> None:
        for name, pattern in (("id", _HEX64), ("pubkey", _HEX64), ("sig", _HEX128)):
            value = getattr(self, name)
            if not isinstance(value, str) or not pattern.fullmatch(value):
                raise ValueError(f"{name} must be lowercase hex of the right length")
        _check_body(self.created_at, self.kind, self.content)
        object.__setattr__(self, "tags", _checked_tags(self.tags))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """An event from its JSON object; ``ValueError`` on a missing or bad field."""
        if not isinstance(data, Mapping):
            raise ValueError("event must be a JSON object")
        missing = [name for name in _FIELDS if name not in data]
        if missing:
            raise ValueError(f"event lacks {', '.join(missing)}")
        return cls(**{name: data[name] for name in _FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pubkey": self.pubkey,
            "created_at": self.created_at,
            "kind": self.kind,
            "tags": [list(tag) for tag in self.tags],
            "content": self.content,
            "sig": self.sig,
        }


def sign_event(
    *,
    private_key_hex: str,
    kind: int,
    content: str,
    tags: Sequence[Sequence[str]] = (),
    created_at: int | None = None,
) -> Event:
    """Build and sign an event (BIP-340, fresh auxiliary randomness)."""
    key = PrivateKey(private_key_bytes(private_key_hex))
    if created_at is None:
        created_at = int(time.time())
    _check_body(created_at, kind, content)
    tag_list = _checked_tags(tags)
    pubkey = key.public_key_xonly.format().hex()
    eid = event_id(pubkey, created_at, kind, tag_list, content)
    sig = key.sign_schnorr(bytes.fromhex(eid), secrets.token_bytes(32)).hex()
    return Event(eid, pubkey, created_at, kind, tag_list, content, sig)


def verify_event(event: Event | Mapping[str, Any]) -> bool:
    """True only if the id matches the content and the signature is valid.

    Accepts an :class:`Event` or its JSON object; never raises.
    """
    try:
        if not isinstance(event, Event):
            event = Event.from_dict(event)
        digest = event_id(
            event.pubkey, event.created_at, event.kind, event.tags, event.content
        )
        if digest != event.id:
            return False
        return PublicKeyXOnly(bytes.fromhex(event.pubkey)).verify(
            bytes.fromhex(event.sig), bytes.fromhex(digest)
        )
    except Exception:
        return False

"""The pairing seed URL an operator shows the machine:
``bitspire://pair?v=1&server=<npub>&relay=<ws url>...&token=<token>``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from nostr_sdk import PublicKey

from .protocol import PROTOCOL_VERSION


@dataclass(frozen=True)
class SeedUrl:
    """What a pairing seed URL carries. ``server`` is 64-char lowercase hex."""

    server: str
    relays: list[str]
    token: str
    operator: str | None = None


def _one(query: dict[str, list[str]], name: str, *, required: bool = True) -> str:
    values = query.get(name, [])
    if len(values) > 1:
        raise ValueError(f"seed URL has {len(values)} '{name}' parameters")
    if not values or not values[0].strip():
        if required:
            raise ValueError(f"seed URL lacks '{name}'")
        return ""
    return values[0].strip()


def _relays(query: dict[str, list[str]]) -> list[str]:
    relays = [r.strip() for r in query.get("relay", []) if r.strip()]
    if not relays:
        raise ValueError("seed URL lacks 'relay'")
    for relay in relays:
        if urlsplit(relay).scheme not in ("ws", "wss"):
            raise ValueError(f"seed URL relay is not a ws:// or wss:// URL: {relay!r}")
    return relays


def parse_seed_url(url: str) -> SeedUrl:
    """Parse ``bitspire://pair?v=1&server=<npub>&relay=<ws url>...&token=<token>``."""
    if not isinstance(url, str):
        raise ValueError("seed URL must be a string")
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "bitspire":
        raise ValueError(f"seed URL scheme must be bitspire://, not {parts.scheme!r}")
    target = (parts.netloc or parts.path.lstrip("/")).lower()
    if target != "pair":
        raise ValueError(f"seed URL must be bitspire://pair, not {target!r}")
    query = parse_qs(parts.query, keep_blank_values=True)
    version = _one(query, "v")
    if version != str(PROTOCOL_VERSION):
        raise ValueError(f"unsupported seed URL version {version!r}")
    server_text = _one(query, "server")
    try:
        server = PublicKey.parse(server_text).to_hex()
    except Exception as exc:
        raise ValueError(f"seed URL server is not a public key: {exc}") from None
    relays = _relays(query)
    token = _one(query, "token")
    operator = _one(query, "operator", required=False) or None
    return SeedUrl(server=server, relays=relays, token=token, operator=operator)

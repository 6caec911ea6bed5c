"""Small builders shared by the API tests."""

from __future__ import annotations

API = "/satmachineadmin/api/v1"


def machine_key() -> tuple[str, str]:
    """A fresh machine identity: (hex pubkey, npub)."""
    from satmachineadmin.nostr.keys import KeyPair

    keys = KeyPair.generate()
    return keys.public_key_hex, keys.npub

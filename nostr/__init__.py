"""Nostr primitives: NIP-01 events, NIP-19 keys, NIP-44 v2 encryption."""

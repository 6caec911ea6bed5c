"""Small builders shared by the API tests."""

from __future__ import annotations

API = "/satmachineadmin/api/v1"


def machine_key() -> tuple[str, str]:
    """A fresh machine identity: (hex pubkey, npub)."""
    from satmachineadmin.nostr.keys import KeyPair

    keys = KeyPair.generate()
    return keys.public_key_hex, keys.npub


async def fund(wallet_id: str, sats: int) -> None:
    """Credits a wallet of the in-process LNbits (FakeWallet: money from nowhere)."""
    from lnbits.core.crud import get_wallet
    from lnbits.core.services import update_wallet_balance

    wallet = await get_wallet(wallet_id)
    assert wallet is not None
    await update_wallet_balance(wallet, sats)

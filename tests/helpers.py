"""Small builders shared by the API tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

API = "/satmachineadmin/api/v1"
SIMULATOR_PATH = Path(__file__).resolve().parent.parent / "tools" / "bitspire_sim.py"


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


def load_simulator() -> ModuleType:
    """tools/bitspire_sim.py, the ATM simulator. tools/ is not a package, so the file
    is loaded by path, once per session: the module must be in sys.modules while it
    runs (for its dataclasses) and every test must see the same classes."""
    loaded = sys.modules.get("bitspire_sim")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("bitspire_sim", SIMULATOR_PATH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def cash_out_body(machine_id: str, **overrides) -> dict:
    """A manual cash-out: 1000.00 GTQ at 500000.00 GTQ/BTC is exactly 200_000 sats,
    plus a 10_000-sat commission."""
    body = {
        "machine_id": machine_id,
        "direction": "cash_out",
        "principal_sats": 200_000,
        "fee_sats": 10_000,
        "fiat_amount": "1000.00",
        "fiat_code": "GTQ",
        "exchange_rate": "500000.00",
    }
    return {**body, **overrides}

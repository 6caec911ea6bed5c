"""A bitSpire ATM simulator: the machine side of the bitSpire RPC over Nostr, v1.

It plays the ATM against the contract (``bitspire-rpc-v1.md``, ``docs/PROTOCOL.md``)
the way another team would: it imports nothing from this repository and does all
the Nostr work (keys, NIP-19, NIP-44 v2, event signing, the relay client) with the
rust-nostr Python bindings, ``nostr_sdk`` 0.44. This file is the command and the
library's names; the parts are in the ``bitspire`` package next to it.

As a library::

    sim, token = BitspireSimulator.from_seed_url(seed_url)
    async with sim:
        await sim.pair(token)
        await sim.publish_beacon()
        summary = await sim.cash_out(
            fiat_amount="200.00", exchange_rate="650000.00", pay=pay_bolt11
        )

As a command (``python tools/bitspire_sim.py --help``)::

    python tools/bitspire_sim.py pair --seed-url 'bitspire://pair?v=1&...'
    # a machine its operator added by npub confirms with its own key:
    python tools/bitspire_sim.py --nsec NSEC pair --seed-url 'bitspire://pair?...'
    python tools/bitspire_sim.py --server NPUB --nsec NSEC info
    python tools/bitspire_sim.py --server NPUB --nsec NSEC cash-out \\
        --fiat 200.00 --rate 650000.00 --dispensed 100.00
    # cash-in by LNURL-withdraw; that LNbits wallet plays the customer's wallet:
    python tools/bitspire_sim.py --server NPUB --nsec NSEC cash-in --lnurl \\
        --fiat 100.00 --rate 650000.00 --lnbits-url URL --payer-key ADMIN_KEY
    python tools/bitspire_sim.py demo --seed-url URL \\
        --lnbits-url http://127.0.0.1:5000 --payer-key ADMIN_KEY --count 5
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script this directory is on the path already; loaded by its file path
# (as the tests and the benchmark load it) it is not, and the package is needed.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)

from bitspire.amounts import Amounts, compute_amounts, parse_decimal  # noqa: E402
from bitspire.cli import _build_parser, main  # noqa: E402
from bitspire.lnbits import lnbits_invoicer, lnbits_payer, lnurl_wallet  # noqa: E402
from bitspire.protocol import (  # noqa: E402
    DEFAULT_RELAY,
    KIND_BEACON,
    KIND_RPC,
    KIND_TELEMETRY,
    PROTOCOL_VERSION,
    SUBSCRIPTION_LOOKBACK_S,
    RpcError,
)
from bitspire.seed_url import SeedUrl, parse_seed_url  # noqa: E402
from bitspire.simulator import BitspireSimulator  # noqa: E402

__all__ = [
    "DEFAULT_RELAY",
    "KIND_BEACON",
    "KIND_RPC",
    "KIND_TELEMETRY",
    "PROTOCOL_VERSION",
    "SUBSCRIPTION_LOOKBACK_S",
    "Amounts",
    "BitspireSimulator",
    "RpcError",
    "SeedUrl",
    "_build_parser",
    "compute_amounts",
    "lnbits_invoicer",
    "lnbits_payer",
    "lnurl_wallet",
    "main",
    "parse_decimal",
    "parse_seed_url",
]

if __name__ == "__main__":
    sys.exit(main())

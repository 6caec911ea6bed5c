"""CPU-only benchmarks, run by bench/run.py in a process of their own (importing
LNbits' NIP-44 class reads LNbits' settings, which wants a data folder):

- NIP-44 v2 encrypt + decrypt of a 1 KiB message: this extension's ``nostr.nip44``
  with its ``ConversationKeyCache`` (as ``rpc.server`` uses it) against LNbits' own
  ``NIP44Encryption`` (``lnbits/wallets/nwc.py``), called the way LNbits' NWC
  funding source calls it: ``encrypt(content, service_pubkey, private_key_hex)``,
  which derives the conversation key (ECDH + HKDF-extract) on every call.
- The distribution arithmetic: ``calculations.distribute_principal`` +
  ``split_commission`` for 10, 1 000 and 100 000 LPs.

Prints one JSON object on stdout.

    LNBITS_DATA_FOLDER=/tmp/x python bench/micro.py [--seconds 0.6]
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _extension_modules() -> tuple[types.ModuleType, types.ModuleType]:
    """``satmachineadmin.nostr.nip44`` and ``satmachineadmin.calculations``,
    without running the package's ``__init__`` (which starts LNbits machinery)."""
    import importlib

    package = types.ModuleType("satmachineadmin")
    package.__path__ = [str(REPO_ROOT)]
    sys.modules.setdefault("satmachineadmin", package)
    nip44 = importlib.import_module("satmachineadmin.nostr.nip44")
    calculations = importlib.import_module("satmachineadmin.calculations")
    return nip44, calculations


def _rate(op: Callable[[], None], seconds: float) -> float:
    """Operations per second of ``op`` over about ``seconds``."""
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(20):
            op()
        count += 20
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def nip44_bench(seconds: float, rounds: int) -> dict:
    from coincurve import PrivateKey, PublicKey
    from lnbits.wallets.nwc import NIP44Encryption

    nip44, _ = _extension_modules()
    server = PrivateKey()
    machine = PrivateKey()
    server_hex = server.secret.hex()
    machine_xonly_hex = machine.public_key.format(compressed=True)[1:].hex()
    # What LNbits' NWC wallet holds: PublicKey(bytes.fromhex("02" + pubkey)).
    peer_point = PublicKey(bytes.fromhex("02" + machine_xonly_hex))
    message = json.dumps({"id": "x" * 8, "method": "get_info", "pad": ""})
    message = message[:-2] + "y" * (1024 - len(message)) + '"}'
    assert len(message.encode()) == 1024

    cache = nip44.ConversationKeyCache()

    def ours() -> None:
        payload = nip44.encrypt(message, cache.get(server_hex, machine_xonly_hex))
        nip44.decrypt(payload, cache.get(server_hex, machine_xonly_hex))

    def ours_uncached() -> None:
        key = nip44.get_conversation_key(server_hex, machine_xonly_hex)
        payload = nip44.encrypt(message, key)
        nip44.decrypt(
            payload, nip44.get_conversation_key(server_hex, machine_xonly_hex)
        )

    def lnbits() -> None:
        payload = NIP44Encryption.encrypt(message, peer_point, server_hex)
        NIP44Encryption.decrypt(payload, peer_point, server_hex)

    # Same run, same keys, and each side reads the other's payloads.
    key = cache.get(server_hex, machine_xonly_hex)
    assert NIP44Encryption.decrypt(nip44.encrypt(message, key), peer_point, server_hex)
    assert nip44.decrypt(NIP44Encryption.encrypt(message, peer_point, server_hex), key)

    samples: dict[str, list[float]] = {"ours": [], "ours_uncached": [], "lnbits": []}
    for _ in range(rounds):  # interleaved, so that load drifts hit all alike
        samples["ours"].append(_rate(ours, seconds))
        samples["lnbits"].append(_rate(lnbits, seconds))
        samples["ours_uncached"].append(_rate(ours_uncached, seconds))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "message_bytes": 1024,
        "ops_per_s": medians,
        "samples": samples,
        "ratio": medians["ours"] / medians["lnbits"],
    }


def distribution_bench(seconds: float, sizes: list[int]) -> dict:
    _, calculations = _extension_modules()
    rng = random.Random(44)  # noqa: S311 (benchmark data)
    results = {}
    for lps in sizes:
        balances = [rng.randint(1_000, 500_000) for _ in range(lps)]  # 10..5000 GTQ
        principal, fee, fiat_minor = 40_000, 2_000, 20_000  # 200.00 GTQ

        def settle(
            balances: list[int] = balances,
            principal: int = principal,
            fee: int = fee,
            fiat_minor: int = fiat_minor,
        ) -> None:
            calculations.distribute_principal(
                principal_sats=principal,
                fiat_minor=fiat_minor,
                balances_minor=balances,
            )
            calculations.split_commission(
                commission_sats=fee,
                principal_sats=principal,
                fee_bps=3000,
                fee_basis="commission",
                rule_weights_bps=[5000, 3000, 2000],
            )

        runs = 0
        started = time.perf_counter()
        timings = []
        while runs < 3 or time.perf_counter() - started < seconds:
            t0 = time.perf_counter()
            settle()
            timings.append(time.perf_counter() - t0)
            runs += 1
        us = statistics.median(timings) * 1e6
        results[str(lps)] = {
            "us_per_settlement": us,
            "us_per_lp": us / lps,
            "runs": runs,
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.6, help="per sample")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    secrets.token_bytes(1)
    out = {
        "nip44": nip44_bench(args.seconds, args.rounds),
        "distribution": distribution_bench(args.seconds, [10, 1_000, 100_000]),
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

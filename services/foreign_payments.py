"""Contract §8: payments into or out of a machine's wallet that carry bitSpire
metadata but were not made through this server's RPC (another LNbits speaking the
protocol made them) land as settlements all the same, once each."""

from __future__ import annotations

from lnbits.core.crud import get_payments
from lnbits.core.models import Payment
from loguru import logger

from .. import calculations, crud, fiat, helpers
from ..errors import SatMachineError
from ..models import Direction, MachineRow
from .landing import NewSettlement, land_settlement

DAY_S = 86400
# Scans in between read only what was made since the previous scan began, less
# this overlap (a payment made just before a scan may be written just after).
SCAN_OVERLAP_S = 120
# How often a scan reads the whole last day again: a Lightning payment can stay
# in flight for hours, and it is found once it completes, by the next full scan.
FULL_SCAN_EVERY_S = 600
# One query reads up to this many of the instance's outgoing payments; a scan
# that finds more reads each machine wallet's own, at most PER_WALLET each.
AT_ONCE = 2000
PER_WALLET = 500


class OutgoingScans:
    """Where each scan of the machines' outgoing payments starts. Every machine
    wallet's payouts are outgoing payments too: reading the whole last day at
    every scan would read a busy fleet's every payout, every time, from the
    database LNbits' own payments take turns on."""

    def __init__(self) -> None:
        self._last_start: int | None = None
        self._last_full: int | None = None

    def since(self, now: int) -> int:
        """Where the scan beginning at ``now`` starts."""
        last, full = self._last_start, self._last_full
        if last is None or full is None or now - full >= FULL_SCAN_EVERY_S:
            return now - DAY_S
        return max(now - DAY_S, last - SCAN_OVERLAP_S)

    def scanned(self, *, began: int, since: int) -> None:
        """Notes a scan that completed (one that failed is read again)."""
        self._last_start = began
        if since <= began - DAY_S:
            self._last_full = began


async def land_bitspire_payment(payment: Payment) -> bool:
    """Contract §8: a payment into or out of a machine's wallet that carries
    bitSpire metadata lands as a settlement, also when another LNbits speaking the
    protocol made it. Returns whether it landed (now or before)."""
    extra = payment.extra or {}
    if extra.get("source") != "bitspire" or not payment.success:
        return False
    if await crud.get_atm_transaction_by_hash(payment_hash=payment.payment_hash):
        return False  # made through this server's RPC: its own lifecycle lands it
    if await crud.get_settlement_by_payment_hash(payment_hash=payment.payment_hash):
        return True
    machine = await crud.get_machine_by_wallet(wallet_id=payment.wallet_id)
    if machine is None:
        return False
    try:
        new = _settlement_from_metadata(payment, machine, extra)
    except (ValueError, TypeError) as exc:
        logger.warning(
            f"satmachineadmin: payment {payment.payment_hash} on machine "
            f"{machine.id} has unusable bitSpire metadata: {exc}"
        )
        return False
    try:
        await land_settlement(new)
    except SatMachineError as exc:
        # e.g. its tx_id already landed with other amounts: it needs a person.
        logger.warning(
            f"satmachineadmin: payment {payment.payment_hash} not landed: {exc.message}"
        )
        return False
    return True


def _settlement_from_metadata(
    payment: Payment, machine: MachineRow, extra: dict
) -> NewSettlement:
    def sats(name: str) -> int:
        value = extra.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        return value

    principal, fee = sats("principal_sats"), sats("fee_sats")
    code = fiat.normalize_fiat_code(str(extra.get("fiat_code", "")))
    if machine.fiat_code and code != machine.fiat_code:
        raise ValueError(f"fiat_code {code} is not the machine's {machine.fiat_code}")
    fiat_minor = fiat.to_minor(str(extra.get("fiat_amount", "")), code)
    rate = fiat.parse_exchange_rate(str(extra.get("exchange_rate", "")))
    moved_msat = abs(payment.amount)  # msat: a fraction of a sat must not pass
    stated = extra.get("type")
    actual = "cash_out" if payment.amount > 0 else "cash_in"
    if stated is not None and stated != actual:
        raise ValueError(f"type {stated!r} does not match a payment {actual}")
    direction = Direction(actual)
    sign = "+" if direction == Direction.cash_out else "-"
    fee_fits = direction == Direction.cash_out or fee <= principal
    if not fee_fits or moved_msat != 1000 * calculations.customer_sats(
        direction=actual, principal_sats=principal, fee_sats=fee
    ):
        raise ValueError(f"the amount paid is not principal_sats {sign} fee_sats")
    tx_id = extra.get("tx_id")
    if not isinstance(tx_id, str) or not 0 < len(tx_id) <= 64:
        tx_id = payment.payment_hash
    return NewSettlement(
        operator_id=machine.operator_id,
        machine=machine,
        direction=direction,
        source="payment",
        tx_id=tx_id,
        payment_hash=payment.payment_hash,
        principal_sats=principal,
        fee_sats=fee,
        fiat_minor=fiat_minor,
        fiat_code=code,
        exchange_rate=str(rate),
        actor="payment",
    )


async def land_outgoing_bitspire_payments(*, since: int) -> int:
    """Cash-ins another LNbits paid from a machine's wallet: LNbits notifies no
    listener of outgoing payments, so they are looked for: all of the instance's
    since ``since`` in one query when they are few (a scan between full ones),
    else, and for a whole day at once, wallet by wallet, at most ``PER_WALLET``
    each."""
    wallets = set(await crud.list_machine_wallets())
    payments = await _outgoing_since(since, wallets)
    landed = 0
    for payment in payments:
        if payment.wallet_id in wallets and await land_bitspire_payment(payment):
            landed += 1
    return landed


async def _outgoing_since(since: int, wallets: set[str]) -> list[Payment]:
    # A whole day of a busy instance is more than one query should read; a scan
    # in between finds few, as a rule.
    if helpers.now() - since < DAY_S:
        payments = await get_payments(
            outgoing=True, complete=True, since=since, limit=AT_ONCE + 1
        )
        if len(payments) <= AT_ONCE:
            return payments
    return [
        payment
        for wallet_id in wallets
        for payment in await get_payments(
            wallet_id=wallet_id,
            outgoing=True,
            complete=True,
            since=since,
            limit=PER_WALLET,
        )
    ]

"""What the payout queues store: a settlement's legs and an LP's forwards."""

from __future__ import annotations

from .base import Row


class LegRow(Row):
    """A payout leg: ``sats`` from ``source_wallet_id`` (the machine's, or the
    operator's for a balance settlement) to a wallet or a Lightning address."""

    id: str
    settlement_id: str
    operator_id: str
    position: int
    kind: str
    label: str
    target: str
    wallet_id: str | None
    ln_address: str | None
    lp_enrolment_id: str | None
    sats: int
    fiat_minor: int | None
    status: str
    source_wallet_id: str
    payment_hash: str | None
    payment_request: str | None
    attempts: int
    last_error: str | None
    claimed_at: int | None
    next_attempt_at: int | None
    created_at: int
    updated_at: int
    paid_at: int | None
    # Read with a claim only: the Lightning address the leg's LP forwards to.
    lp_ln_address: str | None = None


class ForwardRow(Row):
    """An LP's distribution sent on from its wallet to its Lightning address.
    While it is being sent, ``updated_at`` is the claim's token."""

    id: str
    leg_id: str
    lp_id: str
    wallet_id: str
    ln_address: str
    sats: int
    status: str
    payment_hash: str | None
    attempts: int
    last_error: str | None
    next_attempt_at: int | None
    created_at: int
    updated_at: int

    @property
    def source_wallet_id(self) -> str:
        """A forward pays from the LP's wallet, the one its leg paid into."""
        return self.wallet_id


class LpForwardingRow(Row):
    """Where an LP's distributions are forwarded, and what stays behind."""

    id: str
    ln_address: str | None
    forward_fee_reserve_bps: int

"""What the payout queues store: a settlement's legs and an LP's forwards."""

from __future__ import annotations

from .base import RowModel


class ForwardRow(RowModel):
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


class LpForwardingRow(RowModel):
    """Where an LP's distributions are forwarded, and what stays behind."""

    id: str
    ln_address: str | None
    forward_fee_reserve_bps: int

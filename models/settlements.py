"""Settlements, their legs, pages and totals."""

from __future__ import annotations

from pydantic import Field, root_validator, validator

from .. import fiat
from .base import (
    ApiModel,
    Direction,
    FeeBasis,
    LegKind,
    RowModel,
    Sats,
    amount_string,
    rate_string,
    valid_fiat_code,
)


class ManualSettlementCreate(ApiModel):
    machine_id: str
    direction: Direction
    principal_sats: Sats
    fee_sats: Sats | None = Field(
        None,
        description="Left out: the machine's fee schedule prices it (a machine "
        "without one needs it).",
    )
    fiat_amount: str
    fiat_code: str
    exchange_rate: str
    tx_id: str | None = Field(None, min_length=1, max_length=64)
    note: str | None = Field(None, max_length=500)
    fee_override_reason: str | None = Field(
        None,
        max_length=500,
        description="Why fee_sats differs from the machine's fee schedule; "
        "required then, and recorded.",
    )

    class Config:
        extra = "forbid"

    _code = validator("fiat_code", allow_reuse=True)(valid_fiat_code)
    _amount = validator("fiat_amount", pre=True, allow_reuse=True)(amount_string)
    _rate = validator("exchange_rate", pre=True, allow_reuse=True)(rate_string)

    @root_validator(skip_on_failure=True)
    def _fiat_fits_currency(cls, values):
        fiat.to_minor(values["fiat_amount"], values["fiat_code"])
        return values


class SettlementLeg(ApiModel):
    id: str
    position: int
    kind: LegKind
    label: str
    wallet_id: str | None
    ln_address: str | None
    lp_enrolment_id: str | None
    sats: int
    fiat_amount: str | None
    status: str
    payment_hash: str | None
    attempts: int
    last_error: str | None
    paid_at: int | None
    target_name: str | None = Field(
        None,
        description="Who is paid, as people know them: the wallet's name, the "
        "Lightning address, the LP's name, or the platform.",
    )


class Settlement(ApiModel):
    id: str
    operator_id: str
    machine_id: str
    direction: Direction
    status: str
    source: str
    tx_id: str
    payment_hash: str | None
    gross_sats: int
    principal_sats: int
    commission_sats: int
    platform_fee_sats: int
    operator_fee_sats: int
    discount_sats: int
    lp_allocated_sats: int
    unallocated_sats: int
    undispensed_sats: int
    fiat_amount: str
    fiat_code: str
    exchange_rate: str
    fee_bps: int
    fee_basis: FeeBasis
    fee_snapshot: dict
    split_snapshot: list[dict]
    note: str | None
    created_by: str | None
    created_at: int
    updated_at: int
    fee_version: int | None = Field(
        None, description="The fee schedule version it was priced with."
    )
    fee_mismatch_sats: int | None = Field(
        None, description="fee_sats minus the schedule's fee (record mode)."
    )
    legs: list[SettlementLeg] | None = None
    legs_total: int | None = Field(None, description="Its payout legs.")
    legs_done: int | None = Field(
        None, description="Legs paid (or kept in the machine's wallet, or void)."
    )
    legs_failed: int | None = Field(None, description="Legs that failed.")
    failure: str | None = Field(
        None, description="Why the first failed leg failed (its last error)."
    )


class SettlementPage(ApiModel):
    data: list[Settlement]
    total: int
    limit: int
    offset: int


class CurrencyTotals(ApiModel):
    fiat_code: str
    settlements: int
    fiat_amount: str
    gross_sats: int
    commission_sats: int
    platform_fee_sats: int
    operator_fee_sats: int
    lp_allocated_sats: int


class SettlementTotals(ApiModel):
    """Sums over a filtered period: sats across currencies, fiat per currency."""

    settlements: int
    gross_sats: int
    commission_sats: int
    platform_fee_sats: int
    operator_fee_sats: int
    lp_allocated_sats: int
    by_currency: list[CurrencyTotals]


class DailyMachineStats(ApiModel):
    day: str = Field(description="UTC date, YYYY-MM-DD")
    machine_id: str
    settlements: int
    gross_sats: int
    commission_sats: int


class OperatorTotals(ApiModel):
    operator_id: str
    operator: str | None = Field(None, description="The operator's LNbits username.")
    machines: int
    settlements: int
    gross_sats: int
    commission_sats: int
    platform_fee_sats: int
    operator_fee_sats: int


class NewLegRow(RowModel):
    """A payout leg as it is written when its settlement lands."""

    id: str
    settlement_id: str
    operator_id: str
    position: int
    kind: str
    label: str
    target: str
    wallet_id: str | None
    ln_address: str | None = None
    lp_enrolment_id: str | None
    sats: int
    fiat_minor: int | None
    status: str
    source_wallet_id: str
    created_at: int
    updated_at: int


class LegRow(NewLegRow):
    """A stored payout leg, with what paying it has recorded."""

    payment_hash: str | None
    attempts: int
    last_error: str | None
    paid_at: int | None
    payment_request: str | None = None
    claimed_at: int | None = None
    next_attempt_at: int | None = None
    # Read with a claim only: the Lightning address the leg's LP forwards to.
    lp_ln_address: str | None = None
    # Added to a claimed leg: what its payment says in the payee's wallet.
    memo: str | None = None
    memo_facts: dict[str, str] | None = None


class LegContext(RowModel):
    """What a leg's payment tells its payee: the machine settlement it comes from
    (machine and direction are None for an LP's balance settlement)."""

    machine: str | None = None
    direction: str | None = None
    total_minor: int | None = None
    fiat_code: str | None = None
    exchange_rate: str | None = None


class NewSettlementRow(RowModel):
    """A settlement as it lands: every column is written then. The snapshots are
    the JSON text stored."""

    id: str
    operator_id: str
    machine_id: str
    direction: str
    status: str
    source: str
    tx_id: str
    payment_hash: str | None
    gross_sats: int
    principal_sats: int
    commission_sats: int
    platform_fee_sats: int
    operator_fee_sats: int
    discount_sats: int
    lp_allocated_sats: int
    unallocated_sats: int
    undispensed_sats: int
    fiat_amount_minor: int
    fiat_code: str
    exchange_rate: str
    fee_bps: int
    fee_basis: str
    fee_snapshot: str
    split_snapshot: str
    note: str | None
    created_by: str | None
    created_at: int
    updated_at: int
    fee_version: int | None = None
    fee_mismatch_sats: int | None = None


class SettlementRow(NewSettlementRow):
    """A stored settlement (its status changes as its legs are paid)."""


class CurrencySumsRow(RowModel):
    """The sums of the filtered settlements in one fiat currency."""

    fiat_code: str
    settlements: int
    fiat_amount_minor: int
    gross_sats: int
    commission_sats: int
    platform_fee_sats: int
    operator_fee_sats: int
    lp_allocated_sats: int


class DailyMachineSumsRow(RowModel):
    """One machine's settlements on one UTC day (days since the epoch)."""

    day: int
    machine_id: str
    settlements: int
    gross_sats: int
    commission_sats: int

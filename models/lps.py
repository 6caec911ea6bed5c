"""Liquidity providers: codes, enrolments, deposits, statements, forwarding."""

from __future__ import annotations

from typing import Any

from pydantic import Field, validator

from .base import (
    ApiModel,
    Bps,
    RowModel,
    amount_string,
    valid_fiat_code,
    valid_ln_address,
)

LP_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

DISPLAY_NAME_MAX = 64


def clean_display_name(value: Any) -> str | None:
    """A person's name as typed: blanks collapsed and stripped, empty is none,
    at most DISPLAY_NAME_MAX characters, no control characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("the name is text")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value.replace("\t", " ")):
        raise ValueError("the name cannot hold line breaks or control characters")
    value = " ".join(value.split())
    if len(value) > DISPLAY_NAME_MAX:
        raise ValueError(f"a name has at most {DISPLAY_NAME_MAX} characters")
    return value or None


def valid_lp_code(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError("the code is text such as ABCD-EFGH-JKMN")
    return "".join(ch for ch in value.upper() if ch not in "- ")


class LpEnrol(ApiModel):
    """Enrols the LP who made ``code`` on their page and gave it to the operator."""

    code: str = Field(..., min_length=1, max_length=32)
    fiat_code: str
    display_name: str | None = Field(
        None,
        description="The name you know this LP by; the LP's own name, if they "
        "set one, goes before it.",
    )

    class Config:
        extra = "forbid"

    _code = validator("fiat_code", allow_reuse=True)(valid_fiat_code)
    _lp = validator("code", allow_reuse=True)(valid_lp_code)
    _name = validator("display_name", pre=True, allow_reuse=True)(clean_display_name)


class LpEnrolment(ApiModel):
    id: str
    operator_id: str
    lp_id: str
    name: str = Field(description="The LP's display name or LNbits username.")
    fiat_code: str
    created_at: int
    deposited: str
    pending_deposits: str
    distributed: str
    held: str
    voided: str
    balance: str
    distributed_sats: int
    held_sats: int
    payout_schedules_offered: str = Field(
        "each", description="The payout schedules offered to the LP, comma-separated."
    )
    payout_schedule: str = Field("each", description="The LP's chosen schedule.")


class LpCodeCreate(ApiModel):
    wallet_id: str | None = Field(
        None, description="Your wallet that receives the sats; your first if left out."
    )
    display_name: str | None = Field(
        None, description="The name operators see; left out keeps the one you have."
    )

    class Config:
        extra = "forbid"

    _name = validator("display_name", pre=True, allow_reuse=True)(clean_display_name)


class LpCode(ApiModel):
    code: str | None = Field(None, description="Only in the response that makes it.")
    wallet_id: str
    expires_at: int
    used_at: int | None


class LpProfile(ApiModel):
    display_name: str | None = Field(None, max_length=DISPLAY_NAME_MAX)

    class Config:
        extra = "forbid"

    _name = validator("display_name", pre=True, allow_reuse=True)(clean_display_name)


class DepositCreate(ApiModel):
    fiat_amount: str
    note: str | None = Field(None, max_length=500)

    class Config:
        extra = "forbid"

    _amount = validator("fiat_amount", pre=True, allow_reuse=True)(amount_string)


class Deposit(ApiModel):
    id: str
    enrolment_id: str
    operator_id: str
    lp_id: str
    fiat_code: str
    fiat_amount: str
    status: str
    note: str | None
    created_by: str
    created_at: int
    confirmed_by: str | None
    confirmed_at: int | None


class LpBalance(ApiModel):
    enrolment_id: str
    operator: str = Field(description="The operator's LNbits username.")
    fiat_code: str
    wallet_id: str
    deposited: str
    pending_deposits: str
    distributed: str
    held: str
    voided: str
    balance: str
    distributed_sats: int
    held_sats: int


class LpSummary(ApiModel):
    lp_id: str | None
    balances: list[LpBalance]
    totals: list[dict]


class LpDistribution(ApiModel):
    leg_id: str
    settlement_id: str
    enrolment_id: str
    operator: str = Field(description="The operator's LNbits username.")
    fiat_code: str
    fiat_amount: str
    sats: int
    exchange_rate: str
    status: str
    created_at: int
    cost_basis: str | None = Field(
        None,
        description="What the LP paid per BTC (fiat_amount / sats), in fiat_code; "
        "null for a 0-sat distribution.",
    )
    sats_per_fiat_unit: str | None = Field(
        None, description="sats / fiat_amount; null when fiat_amount is 0."
    )
    machine: str | None = Field(None, description="The machine's name.")
    direction: str | None = Field(None, description="cash_out or cash_in.")


class ForwardingSettings(ApiModel):
    ln_address: str | None = Field(
        None, description="Where distributions are forwarded; null turns it off."
    )
    fee_reserve_bps: Bps = Field(
        100, description="Kept back from each forward for routing fees (basis points)."
    )

    class Config:
        extra = "forbid"

    _address = validator("ln_address", allow_reuse=True)(valid_ln_address)

    @validator("fee_reserve_bps")
    def _reserve(cls, value: int) -> int:
        if value > 1000:
            raise ValueError("a fee reserve above 10 % is not a reserve")
        return value


class Forward(ApiModel):
    id: str
    leg_id: str
    ln_address: str
    sats: int
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: int | None
    created_at: int
    updated_at: int


class LpRow(RowModel):
    id: str
    user_id: str
    created_at: int
    display_name: str | None
    ln_address: str | None
    forward_fee_reserve_bps: int


class LpCodeRow(RowModel):
    """An LP's live enrolment code (stored hashed) and the wallet it names."""

    user_id: str
    lp_id: str
    wallet_id: str
    code_hash: str
    expires_at: int
    used_at: int | None
    created_at: int


class BalanceSums(RowModel):
    """An LP's fiat balance in one currency (minor units), as crud/lps.py sums it:
    balance = confirmed deposits - distributed - held."""

    fiat_code: str
    deposited_minor: int = 0
    pending_minor: int = 0
    distributed_minor: int = 0
    distributed_sats: int = 0
    held_minor: int = 0
    held_sats: int = 0
    voided_minor: int = 0

    @property
    def balance_minor(self) -> int:
        return self.deposited_minor - self.distributed_minor - self.held_minor


class EnrolmentRow(BalanceSums):
    """An enrolment with its LP's user and names and its balance."""

    id: str
    operator_id: str
    lp_id: str
    wallet_id: str
    created_at: int
    user_id: str
    display_name: str | None = None  # the operator's, given at enrolment
    lp_display_name: str | None = None  # the LP's own, which goes first
    payout_schedules_offered: str = "each"
    payout_schedule: str = "each"
    payout_hour: int = 0
    payout_threshold_sats: int = 10_000

    @property
    def pays_on_schedule(self) -> bool:
        return self.payout_schedule in ("daily", "threshold")


class DepositRow(RowModel):
    id: str
    enrolment_id: str
    operator_id: str
    lp_id: str
    fiat_code: str
    fiat_amount_minor: int
    status: str
    note: str | None
    created_by: str
    created_at: int
    confirmed_by: str | None = None
    confirmed_at: int | None = None


class LpDistributionRow(RowModel):
    """An LP's share of a machine settlement (one leg)."""

    leg_id: str
    settlement_id: str
    enrolment_id: str
    operator_id: str
    fiat_code: str
    fiat_minor: int | None
    sats: int
    exchange_rate: str
    status: str
    created_at: int
    machine: str | None = None
    direction: str | None = None

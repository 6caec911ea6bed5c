"""Split rules and the split preview."""

from __future__ import annotations

from pydantic import Field, root_validator, validator

from .base import (
    BPS_MAX,
    ApiModel,
    Direction,
    FeeBasis,
    LegKind,
    RowModel,
    Sats,
    Weight,
    valid_ln_address,
)


class SplitRuleIn(ApiModel):
    label: str = Field(..., min_length=1, max_length=64)
    wallet_id: str | None = None
    ln_address: str | None = None
    weight_bps: Weight

    class Config:
        extra = "forbid"

    _address = validator("ln_address", allow_reuse=True)(valid_ln_address)

    @root_validator(skip_on_failure=True)
    def _one_target(cls, values):
        if bool(values.get("wallet_id")) == bool(values.get("ln_address")):
            raise ValueError("each rule needs exactly one of wallet_id or ln_address")
        return values

    @property
    def target(self) -> str:
        return self.wallet_id or self.ln_address or ""


def _check_rules(rules: list[SplitRuleIn]) -> list[SplitRuleIn]:
    if rules:
        total = sum(rule.weight_bps for rule in rules)
        if total != BPS_MAX:
            raise ValueError(
                f"split weights must sum to 10000 basis points (100 %), got {total}"
            )
        targets = [rule.target for rule in rules]
        if len(set(targets)) != len(targets):
            raise ValueError("two rules pay the same target: merge them into one")
    return rules


class SplitsUpdate(ApiModel):
    rules: list[SplitRuleIn] = Field(..., max_items=20)

    class Config:
        extra = "forbid"

    _sum = validator("rules", allow_reuse=True)(_check_rules)


class SplitRule(ApiModel):
    id: str
    position: int
    label: str
    wallet_id: str | None
    ln_address: str | None
    weight_bps: int


class SplitPreviewRequest(ApiModel):
    commission_sats: Sats
    principal_sats: Sats | None = None
    direction: Direction = Direction.cash_out
    rules: list[SplitRuleIn] | None = Field(
        None, max_items=20, description="Preview these rules instead of the saved ones."
    )

    class Config:
        extra = "forbid"

    _sum = validator("rules", allow_reuse=True)(_check_rules)


class Leg(ApiModel):
    kind: LegKind
    label: str
    wallet_id: str | None = None
    ln_address: str | None = None
    lp_enrolment_id: str | None = None
    sats: int
    fiat_amount: str | None = None
    status: str


class SplitPreview(ApiModel):
    direction: Direction
    commission_sats: int
    principal_sats: int
    fee_bps: int
    fee_basis: FeeBasis
    platform_fee_sats: int
    operator_fee_sats: int
    legs: list[Leg]


class SplitRuleRow(RowModel):
    id: str
    operator_id: str
    position: int
    label: str
    wallet_id: str | None
    ln_address: str | None
    weight_bps: int
    created_at: int

"""The super user's configuration and the platform fee."""

from __future__ import annotations

from pydantic import Field, root_validator, validator

from .base import (
    _RELAY_URL,
    LP_RATE_TOLERANCE_MAX_BPS,
    ApiModel,
    Bps,
    Direction,
    FeeBasis,
    FeeEnforcement,
    RowModel,
    not_null,
    relay_address_ok,
)


class SuperConfig(ApiModel):
    cash_in_fee_bps: int
    cash_out_fee_bps: int
    cash_in_fee_basis: FeeBasis
    cash_out_fee_basis: FeeBasis
    super_wallet_id: str | None
    relays: list[str]
    server_pubkey: str
    server_npub: str
    clock_tolerance_s: int
    amount_tolerance_bps: int
    beacon_offline_s: int
    dispense_timeout_s: int
    telemetry_retention_days: int
    rpc_log_retention_days: int
    lp_rate_tolerance_bps: int
    local_only: bool
    cash_in_max_commission_bps: int
    cash_out_max_commission_bps: int
    fee_enforcement: FeeEnforcement
    fee_grace_s: int
    updated_at: int

    @property
    def setup_missing(self) -> list[str]:
        """What the super user still has to set before machines can work."""
        missing = []
        if not self.relays:
            missing.append("relays")
        if not self.super_wallet_id:
            missing.append("super_wallet_id")
        return missing

    @property
    def fee_basis(self) -> FeeBasis | None:
        if self.cash_in_fee_basis == self.cash_out_fee_basis:
            return self.cash_in_fee_basis
        return None

    def fee_for(self, direction: Direction) -> tuple[int, FeeBasis]:
        if direction == Direction.cash_in:
            return self.cash_in_fee_bps, self.cash_in_fee_basis
        return self.cash_out_fee_bps, self.cash_out_fee_basis

    def max_commission_for(self, direction: Direction) -> int:
        if direction == Direction.cash_in:
            return self.cash_in_max_commission_bps
        return self.cash_out_max_commission_bps

    def public_dict(self) -> dict:
        data = self.dict()
        data["fee_basis"] = self.fee_basis
        data["configured"] = not self.setup_missing
        return data


class SuperConfigUpdate(ApiModel):
    """Partial update: fields left out keep their value."""

    cash_in_fee_bps: Bps | None = not_null()
    cash_out_fee_bps: Bps | None = not_null()
    fee_basis: FeeBasis | None = Field(
        None, description="Sets the fee basis of both directions at once."
    )
    cash_in_fee_basis: FeeBasis | None = not_null()
    cash_out_fee_basis: FeeBasis | None = not_null()
    super_wallet_id: str | None = Field(None, description="null: no wallet, no fee.")
    relays: list[str] | None = not_null(max_items=20)
    clock_tolerance_s: int | None = not_null(ge=10, le=3600)
    amount_tolerance_bps: int | None = not_null(ge=0, le=2000)
    beacon_offline_s: int | None = not_null(ge=30, le=86400)
    dispense_timeout_s: int | None = not_null(ge=60, le=7 * 86400)
    telemetry_retention_days: int | None = not_null(ge=1, le=3650)
    rpc_log_retention_days: int | None = not_null(ge=1, le=3650)
    lp_rate_tolerance_bps: Bps | None = not_null(
        description="How far an operator's rate for an LP balance settlement may "
        f"be from LNbits' current rate (0..{LP_RATE_TOLERANCE_MAX_BPS})."
    )
    local_only: bool | None = not_null(
        description="This instance serves only machines on its own computer or "
        "network: seed URLs may then carry loopback or private-network relays only."
    )
    cash_in_max_commission_bps: Bps | None = not_null(
        description="The highest commission an operator's cash-in schedule may charge."
    )
    cash_out_max_commission_bps: Bps | None = not_null(
        description="The highest commission an operator's cash-out schedule may charge."
    )
    fee_enforcement: FeeEnforcement | None = not_null(
        description="refuse: a transaction whose fee is not its schedule's is "
        "refused; record: it is accepted and the difference recorded."
    )
    fee_grace_s: int | None = not_null(
        ge=0,
        le=86400,
        description="How long a replaced fee schedule is still accepted from a "
        "machine that names its version.",
    )

    class Config:
        extra = "forbid"

    @validator("relays", each_item=True)
    def _relay_url(cls, value: str) -> str:
        value = value.strip()
        if not _RELAY_URL.match(value):
            raise ValueError(f"'{value}' is not a ws:// or wss:// relay URL")
        if not relay_address_ok(value):
            raise ValueError(
                f"'{value[:80]}' is not a relay URL: its host name or port "
                "cannot be connected to"
            )
        return value

    @validator("lp_rate_tolerance_bps")
    def _rate_tolerance(cls, value: int | None) -> int | None:
        if value is not None and value > LP_RATE_TOLERANCE_MAX_BPS:
            raise ValueError(
                f"a rate tolerance above {LP_RATE_TOLERANCE_MAX_BPS} bps "
                f"({LP_RATE_TOLERANCE_MAX_BPS // 100} %) is no check at all"
            )
        return value

    @root_validator(skip_on_failure=True)
    def _one_basis_source(cls, values):
        both = values.get("fee_basis")
        if both is not None:
            if values.get("cash_in_fee_basis") or values.get("cash_out_fee_basis"):
                raise ValueError(
                    "give either fee_basis or the per-direction fee bases, not both"
                )
            values["cash_in_fee_basis"] = both
            values["cash_out_fee_basis"] = both
        return values


class PlatformFee(ApiModel):
    """What every user may read of the super user's settings."""

    cash_in_fee_bps: int
    cash_out_fee_bps: int
    cash_in_fee_basis: FeeBasis
    cash_out_fee_basis: FeeBasis
    fee_basis: FeeBasis | None
    server_pubkey: str
    server_npub: str
    relays: list[str]
    cash_in_max_commission_bps: int
    cash_out_max_commission_bps: int
    configured: bool = Field(
        ...,
        description="The super user has set the relays and the platform fee wallet; "
        "until then no machine can pair.",
    )


class SuperConfigRow(RowModel):
    """The one configuration row; ``relays`` is the JSON text stored."""

    id: str
    cash_in_fee_bps: int
    cash_out_fee_bps: int
    cash_in_fee_basis: str
    cash_out_fee_basis: str
    super_wallet_id: str | None
    relays: str
    server_private_key: str
    server_pubkey: str
    clock_tolerance_s: int
    amount_tolerance_bps: int
    beacon_offline_s: int
    dispense_timeout_s: int
    telemetry_retention_days: int
    rpc_log_retention_days: int
    lp_rate_tolerance_bps: int
    local_only: bool
    cash_in_max_commission_bps: int
    cash_out_max_commission_bps: int
    fee_enforcement: str
    fee_grace_s: int
    updated_at: int
    updated_by: str | None

"""API and storage models (pydantic v1, as LNbits pins it).

Validation lives here, at the edge: basis points 0..10000, non-negative sats below
the 21M BTC supply, fiat as exact decimal strings, known currency codes. Everything
behind these models may assume its input is well-formed.
"""

from __future__ import annotations

import re
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any

from lnbits.settings import settings
from pydantic import BaseModel, Field, StrictBool, conint, root_validator, validator
from pydantic.fields import ModelField

from . import fiat
from .nostr.nip19 import normalize_pubkey

MAX_SATS = 21_000_000 * 100_000_000
BPS_MAX = 10_000
LP_RATE_TOLERANCE_MAX_BPS = 2_000
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Strict: a float or "12" string for an amount is a client bug, not something to
# truncate silently.
if TYPE_CHECKING:
    Sats = int
    Bps = int
    Weight = int
else:
    Sats = conint(strict=True, ge=0, le=MAX_SATS)
    Bps = conint(strict=True, ge=0, le=BPS_MAX)
    Weight = conint(strict=True, ge=1, le=BPS_MAX)

_LN_ADDRESS = re.compile(r"^[a-z0-9._+-]+@[a-z0-9.-]+\.[a-z]{2,}$")
_RELAY_URL = re.compile(r"^wss?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


class Direction(str, Enum):
    cash_in = "cash_in"
    cash_out = "cash_out"


class FeeBasis(str, Enum):
    commission = "commission"
    principal = "principal"


class MachineStatus(str, Enum):
    active = "active"
    disabled = "disabled"


class DispenseConfirmation(str, Enum):
    report = "report"
    on_payment = "on_payment"


class LegKind(str, Enum):
    platform_fee = "platform_fee"
    operator_split = "operator_split"
    lp_distribution = "lp_distribution"
    lp_balance_settlement = "lp_balance_settlement"


# Schema keywords that describe a property rather than constrain its value: they stay
# beside the anyOf that _admit_null builds.
_ANNOTATIONS = ("title", "description", "default", "examples")


def _admit_null(prop: dict[str, Any]) -> dict[str, Any]:
    """The property's schema, with null as a second choice."""
    if "anyOf" in prop and {"type": "null"} in prop["anyOf"]:
        return prop
    outer = {key: prop[key] for key in _ANNOTATIONS if key in prop}
    value = {key: item for key, item in prop.items() if key not in _ANNOTATIONS}
    return {"anyOf": [value, {"type": "null"}], **outer}


def not_null(default: Any = None, **constraints: Any) -> Any:
    """A field of a partial update that may be left out, but not sent as null: null
    would not mean "unchanged", and the stored value cannot be null."""
    return Field(default, nullable=False, **constraints)


def _refuses_null(field: ModelField) -> bool:
    return field.field_info.extra.get("nullable") is False


def _document_null(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """pydantic v1 documents ``x: str | None`` as a plain string, and FastAPI publishes
    OpenAPI 3.1, where a schema is JSON Schema: a null there would break it. Every
    field that may be None admits null in the schema, as it does in the model,
    except a ``not_null()`` one."""
    properties = schema.get("properties", {})
    for field in model.__fields__.values():
        prop = properties.get(field.alias)
        if prop is None:
            continue
        prop.pop("nullable", None)  # not a JSON Schema keyword
        if field.allow_none and not _refuses_null(field):
            properties[field.alias] = _admit_null(prop)


class ApiModel(BaseModel):
    """The base of every model here: its schema says which fields may be null, and
    a ``not_null()`` field refuses one."""

    class Config:
        schema_extra = staticmethod(_document_null)

    @root_validator(pre=True)
    def _null_only_where_allowed(cls, values: dict[str, Any]) -> dict[str, Any]:
        # Once per model, not per field: models are built for every row answered.
        for alias in _null_refusing(cls):
            if alias in values and values[alias] is None:
                raise ValueError(f"{alias} must not be null")
        return values


@cache
def _null_refusing(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(
        field.alias for field in model.__fields__.values() if _refuses_null(field)
    )


def _fiat_code(value: str | None) -> str | None:
    return None if value is None else fiat.normalize_fiat_code(value)


# Names that never reach the public internet (RFC 6761, 6762, 7686, 8375, 9476,
# ICANN's .internal, and suffixes that were never delegated because networks use
# them privately). A Lightning address there points the server at itself, its
# network, a cloud metadata service or a Tor proxy.
_PRIVATE_NAME_SUFFIXES = (
    "alt",
    "arpa",
    "corp",
    "example",
    "home",
    "internal",
    "intranet",
    "invalid",
    "lan",
    "local",
    "localdomain",
    "localhost",
    "onion",
    "private",
    "test",
)
MAX_LN_ADDRESS_CHARS = 320  # 64 for the name, 255 for the domain, and the "@"


def check_ln_address(value: str) -> str:
    """The Lightning address normalised, or ValueError if it is malformed or its
    domain is not a public one.

    LNbits resolves the domain when it pays and refuses private IP addresses
    then (unless its ``lnbits_lnurl_allow_private_ips`` says otherwise); this
    refuses the names that can only be private when the address is saved, and
    follows the same setting.
    """
    value = value.strip().lower()
    if len(value) > MAX_LN_ADDRESS_CHARS or not _LN_ADDRESS.match(value):
        raise ValueError(f"'{value[:80]}' is not a Lightning address (name@domain)")
    domain = value.rsplit("@", 1)[1]
    suffix = domain.rsplit(".", 1)[1]
    if suffix in _PRIVATE_NAME_SUFFIXES and not settings.lnbits_lnurl_allow_private_ips:
        raise ValueError(
            f"'{value}' is not on a public domain: '.{suffix}' names only "
            "reach private networks"
        )
    return value


def _ln_address(value: str | None) -> str | None:
    return None if value is None else check_ln_address(value)


def _decimal_string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError('must be a decimal string such as "2000.00"')
    return value.strip()


class ErrorDetail(ApiModel):
    """The body of every refusal (4xx)."""

    detail: str | list[dict] = Field(
        ...,
        description="Why, in words; for a malformed request, one entry per field "
        "that is wrong.",
    )


def _amount_string(value: object) -> str:
    """A fiat amount: its shape here, its currency's decimals where that is known."""
    text = _decimal_string(value)
    fiat.parse_amount(text)
    return text


def _rate_string(value: object) -> str:
    text = _decimal_string(value)
    fiat.parse_exchange_rate(text)
    return text


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def _optional_amount(value: object) -> str | None:
    return None if value is None else _amount_string(value)


def _blank_or_amount(value: object) -> str | None:
    return _optional_amount(_blank_is_none(value))


def _blank_or_rate(value: object) -> str | None:
    """Blank means "no rate given" (LNbits' market rate), as it always did."""
    value = _blank_is_none(value)
    return None if value is None else _rate_string(value)


# --- super user ------------------------------------------------------------------


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
    updated_at: int

    @property
    def fee_basis(self) -> FeeBasis | None:
        if self.cash_in_fee_basis == self.cash_out_fee_basis:
            return self.cash_in_fee_basis
        return None

    def fee_for(self, direction: Direction) -> tuple[int, FeeBasis]:
        if direction == Direction.cash_in:
            return self.cash_in_fee_bps, self.cash_in_fee_basis
        return self.cash_out_fee_bps, self.cash_out_fee_basis

    def public_dict(self) -> dict:
        data = self.dict()
        data["fee_basis"] = self.fee_basis
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

    class Config:
        extra = "forbid"

    @validator("relays", each_item=True)
    def _relay_url(cls, value: str) -> str:
        value = value.strip()
        if not _RELAY_URL.match(value):
            raise ValueError(f"'{value}' is not a ws:// or wss:// relay URL")
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


# --- machines --------------------------------------------------------------------


class MachineCreate(ApiModel):
    npub: str = Field(..., description="The machine's public key, npub or hex.")
    name: str = Field(..., min_length=1, max_length=64)
    fiat_code: str | None = None
    location: str | None = Field(None, max_length=200)
    dispense_confirmation: DispenseConfirmation = DispenseConfirmation.report

    class Config:
        extra = "forbid"

    _code = validator("fiat_code", allow_reuse=True)(_fiat_code)

    @validator("npub")
    def _pubkey(cls, value: str) -> str:
        return normalize_pubkey(value)

    @validator("name")
    def _name(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("name must not be blank")
        return value


class MachineUpdate(ApiModel):
    name: str | None = not_null(min_length=1, max_length=64)
    location: str | None = Field(None, max_length=200)
    fiat_code: str | None = None
    status: MachineStatus | None = not_null()
    dispense_confirmation: DispenseConfirmation | None = not_null()

    class Config:
        extra = "forbid"

    _code = validator("fiat_code", allow_reuse=True)(_fiat_code)


class Machine(ApiModel):
    id: str
    operator_id: str
    pubkey: str
    npub: str
    wallet_id: str
    name: str
    location: str | None
    fiat_code: str | None
    status: MachineStatus
    dispense_confirmation: DispenseConfirmation
    created_at: int
    updated_at: int
    online: bool = False
    last_seen: int | None = None
    beacon: dict | None = None
    balance_sats: int | None = Field(
        None, description="The machine wallet's balance; null if the wallet is gone."
    )


class PairingCreate(ApiModel):
    name: str = Field(..., min_length=1, max_length=64)
    fiat_code: str | None = None
    location: str | None = Field(None, max_length=200)

    class Config:
        extra = "forbid"

    _code = validator("fiat_code", allow_reuse=True)(_fiat_code)


class PairingStatus(str, Enum):
    waiting = "waiting"
    paired = "paired"
    expired = "expired"


class Pairing(ApiModel):
    id: str
    name: str
    fiat_code: str | None
    location: str | None
    expires_at: int
    created_at: int
    used_at: int | None
    machine_id: str | None
    expected_npub: str | None = Field(
        None,
        description="Added by npub: only the machine with this key can redeem it.",
    )
    dispense_confirmation: DispenseConfirmation = DispenseConfirmation.report
    status: PairingStatus = Field(
        PairingStatus.waiting,
        description="waiting: for the machine to confirm with the one-time token.",
    )
    seed_url: str | None = Field(
        None, description="Only in the response that creates it."
    )
    qr_svg: str | None = Field(None, description="The seed URL as a QR code (SVG).")


# --- splits ----------------------------------------------------------------------


class SplitRuleIn(ApiModel):
    label: str = Field(..., min_length=1, max_length=64)
    wallet_id: str | None = None
    ln_address: str | None = None
    weight_bps: Weight

    class Config:
        extra = "forbid"

    _address = validator("ln_address", allow_reuse=True)(_ln_address)

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


# --- settlements -----------------------------------------------------------------


class ManualSettlementCreate(ApiModel):
    machine_id: str
    direction: Direction
    principal_sats: Sats
    fee_sats: Sats
    fiat_amount: str
    fiat_code: str
    exchange_rate: str
    tx_id: str | None = Field(None, min_length=1, max_length=64)
    note: str | None = Field(None, max_length=500)

    class Config:
        extra = "forbid"

    _code = validator("fiat_code", allow_reuse=True)(_fiat_code)
    _amount = validator("fiat_amount", pre=True, allow_reuse=True)(_amount_string)
    _rate = validator("exchange_rate", pre=True, allow_reuse=True)(_rate_string)

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
    legs: list[SettlementLeg] | None = None


class SettlementPage(ApiModel):
    data: list[Settlement]
    total: int
    limit: int
    offset: int


# --- liquidity providers -----------------------------------------------------------


LP_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def _lp_code(value: str) -> str:
    if not isinstance(value, str):
        raise ValueError("the code is text such as ABCD-EFGH-JKMN")
    return "".join(ch for ch in value.upper() if ch not in "- ")


class LpEnrol(ApiModel):
    """Enrols the LP who made ``code`` on their page and gave it to the operator."""

    code: str = Field(..., min_length=1, max_length=32)
    fiat_code: str

    class Config:
        extra = "forbid"

    _code = validator("fiat_code", allow_reuse=True)(_fiat_code)
    _lp = validator("code", allow_reuse=True)(_lp_code)


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


class LpCodeCreate(ApiModel):
    wallet_id: str | None = Field(
        None, description="Your wallet that receives the sats; your first if left out."
    )

    class Config:
        extra = "forbid"


class LpCode(ApiModel):
    code: str | None = Field(None, description="Only in the response that makes it.")
    wallet_id: str
    expires_at: int
    used_at: int | None


class LpProfile(ApiModel):
    display_name: str | None = Field(None, max_length=64)

    class Config:
        extra = "forbid"

    @validator("display_name")
    def _display_name(cls, value: str | None) -> str | None:
        value = (value or "").strip()
        return value or None


class DepositCreate(ApiModel):
    fiat_amount: str
    note: str | None = Field(None, max_length=500)

    class Config:
        extra = "forbid"

    _amount = validator("fiat_amount", pre=True, allow_reuse=True)(_amount_string)


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
    machines: int
    settlements: int
    gross_sats: int
    commission_sats: int
    platform_fee_sats: int
    operator_fee_sats: int


class AtmTransaction(ApiModel):
    id: str
    machine_id: str
    tx_id: str
    direction: Direction
    status: str
    payment_hash: str | None
    amount_sats: int
    principal_sats: int
    fee_sats: int
    fiat_amount: str
    fiat_code: str
    exchange_rate: str
    paid_at: int | None
    settlement_id: str | None
    note: str | None
    created_at: int
    updated_at: int


class Resolution(str, Enum):
    full = "full"
    partial = "partial"
    void = "void"


class AbandonedResolve(ApiModel):
    resolution: Resolution
    dispensed_fiat: str | None = Field(
        None, description="For a partial dispense: the fiat the machine gave out."
    )
    note: str | None = Field(None, max_length=500)

    class Config:
        extra = "forbid"

    _dispensed = validator("dispensed_fiat", pre=True, allow_reuse=True)(
        _blank_or_amount
    )

    @root_validator(skip_on_failure=True)
    def _needs(cls, values):
        resolution = values["resolution"]
        if resolution == Resolution.partial and not values.get("dispensed_fiat"):
            raise ValueError("a partial dispense needs dispensed_fiat")
        if resolution != Resolution.partial and values.get("dispensed_fiat"):
            raise ValueError("dispensed_fiat is only for a partial dispense")
        if resolution == Resolution.void and not (values.get("note") or "").strip():
            raise ValueError("a refund or void needs a note saying what happened")
        return values


class BalanceSettle(ApiModel):
    """Settle (part of) an LP's remaining fiat balance in sats."""

    wallet_id: str = Field(..., description="The operator's wallet that pays.")
    fiat_amount: str | None = Field(
        None, description="How much of the balance; all of it when left out."
    )
    exchange_rate: str | None = Field(
        None,
        description="Fiat per BTC; LNbits' current rate when left out. It must be "
        "within the platform's tolerance of LNbits' rate.",
    )
    confirm_without_market_rate: StrictBool = Field(
        False,
        description="Use exchange_rate although LNbits has no rate to check it "
        "against right now (recorded in the audit log).",
    )
    note: str | None = Field(None, max_length=500)

    class Config:
        extra = "forbid"

    _amount = validator("fiat_amount", pre=True, allow_reuse=True)(_optional_amount)
    _rate = validator("exchange_rate", pre=True, allow_reuse=True)(_blank_or_rate)


class BalanceSettlement(ApiModel):
    id: str
    enrolment_id: str
    fiat_amount: str
    fiat_code: str
    exchange_rate: str
    rate_source: str
    sats: int
    source_wallet_id: str
    note: str | None
    created_at: int
    status: str = Field(
        description="pending, paying, failed (held from the LP's balance), paid, "
        "or void (released back into it)."
    )
    last_error: str | None
    attempts: int


class LpBalanceSettlement(ApiModel):
    """A balance settlement as its LP sees it."""

    id: str
    enrolment_id: str
    operator: str = Field(description="The operator's LNbits username.")
    fiat_amount: str
    fiat_code: str
    exchange_rate: str
    sats: int
    state: str = Field(description="held (not paid yet), paid, or voided.")
    created_at: int
    paid_at: int | None


class ForwardingSettings(ApiModel):
    ln_address: str | None = Field(
        None, description="Where distributions are forwarded; null turns it off."
    )
    fee_reserve_bps: Bps = Field(
        100, description="Kept back from each forward for routing fees (basis points)."
    )

    class Config:
        extra = "forbid"

    _address = validator("ln_address", allow_reuse=True)(_ln_address)

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

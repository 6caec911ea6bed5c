"""What every model shares: bounds, enums, null handling and the edge validators."""

from __future__ import annotations

import ipaddress
import re
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lnbits.settings import settings
from pydantic import BaseModel, Extra, Field, conint, root_validator
from pydantic.fields import ModelField

from .. import fiat

MAX_SATS = 21_000_000 * 100_000_000


BPS_MAX = 10_000


LP_RATE_TOLERANCE_MAX_BPS = 2_000


DEFAULT_MAX_COMMISSION_BPS = 2_000
"""The super user's cap on any schedule's commission, until they set another: 20 %."""


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


def relay_address_ok(url: str) -> bool:
    """Whether a ws:// or wss:// URL names a host and port a connection can be
    opened to: an IP address, or a DNS name of labels of 1..63 characters and at
    most 253 in all (in their IDNA form); a port from 1 to 65535."""
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises for a bad one
    except ValueError:
        return False
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    try:
        name = host.encode("idna").decode("ascii").rstrip(".")
    except UnicodeError:
        return False
    labels = name.split(".")
    return len(name) <= 253 and all(0 < len(label) <= 63 for label in labels)


class Direction(str, Enum):
    cash_in = "cash_in"
    cash_out = "cash_out"


class FeeBasis(str, Enum):
    commission = "commission"
    principal = "principal"


class FeeEnforcement(str, Enum):
    """What the server does with a fee that is not its schedule's (contract §9.2)."""

    refuse = "refuse"
    record = "record"


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


class RowModel(BaseModel):
    """A stored row as crud hands it on: its columns, typed. A query may select
    more columns than the model names (a join); those are left out. Its schema
    says which columns may be null, as an API model's does."""

    class Config:
        extra = Extra.ignore
        schema_extra = staticmethod(_document_null)


@cache
def _null_refusing(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(
        field.alias for field in model.__fields__.values() if _refuses_null(field)
    )


def valid_fiat_code(value: str | None) -> str | None:
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


def valid_ln_address(value: str | None) -> str | None:
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


def amount_string(value: object) -> str:
    """A fiat amount: its shape here, its currency's decimals where that is known."""
    text = _decimal_string(value)
    fiat.parse_amount(text)
    return text


def rate_string(value: object) -> str:
    text = _decimal_string(value)
    fiat.parse_exchange_rate(text)
    return text


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


def optional_amount(value: object) -> str | None:
    return None if value is None else amount_string(value)


def blank_or_amount(value: object) -> str | None:
    return optional_amount(_blank_is_none(value))


def blank_or_rate(value: object) -> str | None:
    """Blank means "no rate given" (LNbits' market rate), as it always did."""
    value = _blank_is_none(value)
    return None if value is None else rate_string(value)

"""What a payment says in the payee's LNbits wallet: its memo and the facts in
its ``extra``. LPs use the extension mostly through their wallets, where each
distribution arrives as a payment; the memo tells them what it was for.

    SatMachine · carlos · Lobby ATM · cash-out · 50.00 of 100.00 GTQ @ 650,000
    SatMachine · carlos · Lobby ATM · LP payout · 12 sales · daily
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from . import fiat
from .helpers import direction_word

BRAND = "SatMachine"
SEPARATOR = " · "
MEMO_MAX = 200  # well inside a BOLT 11 description (639 bytes), and one line
PART_MAX = 40  # a long machine, label or user name is cut, not the amounts


@dataclass(frozen=True)
class PaymentFacts:
    """What a payout leg pays for, as its memo and ``extra`` tell it."""

    kind: str  # a LegKind value
    label: str
    sats: int
    operator: str | None = None
    machine: str | None = None
    direction: str | None = None  # cash_in / cash_out; None: a balance settlement
    share_minor: int | None = None  # the leg's own fiat (an LP's share)
    total_minor: int | None = None  # the settlement's fiat
    fiat_code: str | None = None
    exchange_rate: str | None = None


def grouped(text: str | None) -> str:
    """A decimal string with thousands separators, trailing ".00" of a rate
    dropped only when the rate is whole: 650000.00 → 650,000; 1000.50 → 1,000.50."""
    try:
        value = Decimal(text or "")
    except InvalidOperation:
        return text or ""
    if value == value.to_integral_value():
        return f"{value:,.0f}"
    return f"{value:,}"


def _money(minor: int | None, code: str) -> str:
    if minor is None:
        return ""
    digits = fiat.exponent(code)
    return f"{Decimal(minor).scaleb(-digits):,.{digits}f}"


def _cut(text: str | None) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= PART_MAX else text[: PART_MAX - 1] + "…"


def _fiat_part(facts: PaymentFacts) -> str:
    code = facts.fiat_code
    if not code or facts.total_minor is None:
        return ""
    if facts.kind == "lp_distribution" and facts.share_minor is not None:
        amount = (
            f"{_money(facts.share_minor, code)} of {_money(facts.total_minor, code)}"
        )
    else:
        amount = _money(facts.total_minor, code)
    rate = f" @ {grouped(facts.exchange_rate)}" if facts.exchange_rate else ""
    return f"{amount} {code}{rate}"


def memo(facts: PaymentFacts) -> str:
    """One line, at most MEMO_MAX characters. An operator's own split leg leaves
    out the operator (it is their own name); everyone else is told who it is."""
    parts = [BRAND]
    if facts.kind != "operator_split":
        parts.append(_cut(facts.operator))
    if facts.direction:
        parts += [_cut(facts.machine), direction_word(facts.direction)]
    else:
        parts.append("balance settlement")
    if facts.kind == "platform_fee":
        parts.append("platform fee")
    elif facts.kind == "operator_split":
        parts.append(_cut(facts.label))
    parts.append(_fiat_part(facts))
    text = SEPARATOR.join(part for part in parts if part)
    return text if len(text) <= MEMO_MAX else text[: MEMO_MAX - 1] + "…"


_PAID_FOR = {
    "platform_fee": "platform fee",
    "lp_distribution": "liquidity provider's share",
    "lp_balance_settlement": "balance settlement",
}


def payment_extra(facts: PaymentFacts) -> dict[str, str]:
    """The same facts for LNbits' payment details (no empty ones)."""
    code = facts.fiat_code or ""
    found = {
        "operator": facts.operator,
        "machine": facts.machine,
        "direction": direction_word(facts.direction) or None,
        "fiat_code": facts.fiat_code,
        "fiat_amount": None
        if facts.share_minor is None or not code
        else fiat.to_decimal_string(facts.share_minor, code),
        "fiat_total": None
        if facts.total_minor is None or not code
        else fiat.to_decimal_string(facts.total_minor, code),
        "exchange_rate": facts.exchange_rate,
        "paid_for": _PAID_FOR.get(facts.kind, facts.label),
    }
    return {key: value for key, value in found.items() if value is not None}


@dataclass(frozen=True)
class PayoutFacts:
    """What a scheduled LP payout pays for: the sales it gathers, from which
    operator's machines, on which schedule."""

    operator: str | None
    machines: tuple[str, ...]
    sales: int
    schedule: str


_SCHEDULE_WORDS = {"daily": "daily", "threshold": "threshold", "each": "accrued"}


def _machines_part(machines: tuple[str, ...]) -> str:
    if len(machines) == 1:
        return _cut(machines[0])
    return f"{len(machines)} machines" if machines else ""


def _sales_part(sales: int) -> str:
    return f"{sales} sale" if sales == 1 else f"{sales} sales"


def payout_memo(facts: PayoutFacts) -> str:
    """One line, like a leg's: who, which machine, and that it gathers sales."""
    parts = [
        BRAND,
        _cut(facts.operator),
        _machines_part(facts.machines),
        "LP payout",
        _sales_part(facts.sales),
        _SCHEDULE_WORDS.get(facts.schedule, facts.schedule),
    ]
    text = SEPARATOR.join(part for part in parts if part)
    return text if len(text) <= MEMO_MAX else text[: MEMO_MAX - 1] + "…"


def payout_extra(facts: PayoutFacts) -> dict[str, str]:
    """The same facts for LNbits' payment details (no empty ones)."""
    found = {
        "operator": facts.operator,
        "machine": facts.machines[0] if len(facts.machines) == 1 else None,
        "machines": ", ".join(facts.machines) if len(facts.machines) > 1 else None,
        "paid_for": "liquidity provider payout",
        "sales": str(facts.sales),
        "schedule": facts.schedule,
    }
    return {key: value for key, value in found.items() if value}

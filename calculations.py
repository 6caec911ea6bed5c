"""Money arithmetic for the bitcoin-ATM business: pure, synchronous, integers only.

Every amount is an ``int`` in its smallest unit: sats for bitcoin, minor units
(cents, centavos, ...) for fiat, basis points (1/10 000) for rates. Floats and
``Decimal`` never appear, so every result is exact and reproducible byte for byte,
which is what lets a settlement be recomputed and audited later.

The module carries three invariants of the business:

* a commission is split between the platform (super user) and the operator, and the
  operator's part across the operator's rules, without losing or inventing a sat;
* a cash-out's principal is paid to the liquidity providers (LPs) in proportion to
  the fiat their balances covered, and whatever no balance covered stays, exactly,
  in the machine wallet;
* no amount is ever negative.

Every public function validates its inputs and checks its own results before
returning them. Both raise :class:`CalculationError`, never ``AssertionError``, so the
checks survive ``python -O``: a bug here must stop a payout, not silently skew it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

__all__ = [
    "BPS_DENOMINATOR",
    "CalculationError",
    "CommissionSplit",
    "FeeBasis",
    "LpDistribution",
    "check_bps",
    "check_cash_in_amounts",
    "check_cash_out_amounts",
    "check_int",
    "check_non_negative",
    "customer_sats",
    "distribute_principal",
    "ensure",
    "largest_remainder",
    "platform_fee",
    "round_half_up",
    "split_commission",
]

BPS_DENOMINATOR = 10_000
"""Basis points in a whole: a rate of ``bps`` means ``bps / BPS_DENOMINATOR``."""

FeeBasis = Literal["commission", "principal"]
"""What the platform fee rate applies to: the commission, or the principal."""

_FEE_BASES: tuple[str, ...] = get_args(FeeBasis)


class CalculationError(ValueError):
    """An input, or a result, that would break a money invariant."""


# --- Input checks ---------------------------------------------------------------------


def ensure(condition: bool, message: str) -> None:
    """Raise :class:`CalculationError` unless ``condition`` holds.

    Used instead of ``assert`` so that the checks still run under ``python -O``.
    """
    if not condition:
        raise CalculationError(message)


def check_int(name: str, value: object) -> int:
    """Return ``value`` if it is an ``int``; reject ``bool``, ``float`` and the rest.

    ``bool`` is an ``int`` subclass in Python, but ``True`` sats is always a bug, and
    a float has already lost the exactness this module exists to keep.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise CalculationError(
            f"{name} must be an int, got {type(value).__name__} {value!r}"
        )
    return value


def check_non_negative(name: str, value: object) -> int:
    """Return ``value`` if it is an ``int`` >= 0."""
    number = check_int(name, value)
    ensure(number >= 0, f"{name} must be >= 0, got {number}")
    return number


def _check_int_sequence(name: str, values: object) -> tuple[int, ...]:
    """Return ``values`` as a tuple of ``int``; reject strings and non-sequences."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise CalculationError(
            f"{name} must be a sequence of ints, got {type(values).__name__}"
        )
    return tuple(check_int(f"{name}[{i}]", value) for i, value in enumerate(values))


def check_bps(name: str, value: object) -> int:
    """Return ``value`` if it is a rate in basis points, 0..BPS_DENOMINATOR."""
    bps = check_int(name, value)
    ensure(
        0 <= bps <= BPS_DENOMINATOR,
        f"{name} must be between 0 and {BPS_DENOMINATOR}, got {bps}",
    )
    return bps


def _check_fee_basis(value: object) -> FeeBasis:
    """Return ``value`` if it names a known fee basis."""
    if value == "commission":
        return "commission"
    if value == "principal":
        return "principal"
    raise CalculationError(f"fee_basis must be one of {_FEE_BASES}, got {value!r}")


# --- Rounding and apportionment -------------------------------------------------------


def round_half_up(numerator: int, denominator: int) -> int:
    """Round ``numerator / denominator`` to the nearest int, halves up, exactly.

    Half-up (not banker's rounding) is what people expect from a fee on a receipt:
    2.5 sats is 3 sats. Integer arithmetic, ``(2n + d) // (2d)``, keeps it exact for
    amounts of any size.
    """
    n = check_non_negative("numerator", numerator)
    d = check_int("denominator", denominator)
    ensure(d > 0, f"denominator must be > 0, got {d}")
    result = (2 * n + d) // (2 * d)
    # |n/d - result| <= 1/2, with an exact half going up.
    ensure(
        2 * n - d < 2 * result * d <= 2 * n + d,
        f"invariant broken: round_half_up({n}, {d}) gave {result}",
    )
    return result


def largest_remainder(total: int, weights: Sequence[int]) -> tuple[int, ...]:
    """Apportion ``total`` units over ``weights`` by the largest-remainder method.

    Each entry first gets the floor of its exact quota ``total * w / W``; the few
    units left over go one each to the entries with the largest remainders. The
    shares always sum to ``total`` exactly and each lies within one unit of its
    quota, which is as fair as whole units allow.

    Ties between equal remainders go to the larger weight, then to the earlier
    position, so the result depends only on the inputs and their order: the same
    settlement recomputed later gives the same sats to the same party. Zero weights
    get nothing.

    ``sum(weights) == 0`` is allowed only when ``total == 0``: there is no one to
    give a unit to, and a unit silently dropped would be a lost sat.
    """
    total = check_non_negative("total", total)
    ws = _check_int_sequence("weights", weights)
    for i, weight in enumerate(ws):
        ensure(weight >= 0, f"weights[{i}] must be >= 0, got {weight}")
    weight_sum = sum(ws)
    if weight_sum == 0:
        ensure(
            total == 0,
            f"cannot apportion total {total} over weights that sum to 0 "
            f"({len(ws)} weights)",
        )
        return (0,) * len(ws)

    shares: list[int] = []
    remainders: list[int] = []
    for weight in ws:
        share, remainder = divmod(total * weight, weight_sum)
        shares.append(share)
        remainders.append(remainder)

    # sum(remainders) == leftover * weight_sum and each remainder < weight_sum, so
    # leftover is smaller than the number of non-zero remainders: every leftover
    # unit goes to an entry with a positive remainder, never to a zero weight.
    leftover = total - sum(shares)
    if leftover:
        order = sorted(range(len(ws)), key=lambda i: (-remainders[i], -ws[i], i))
        for i in order[:leftover]:
            shares[i] += 1

    result = tuple(shares)
    _check_apportionment(total, ws, weight_sum, result)
    return result


def _check_apportionment(
    total: int, weights: tuple[int, ...], weight_sum: int, shares: tuple[int, ...]
) -> None:
    """Check that ``shares`` sum to ``total`` and each is within 1 of its quota."""
    ensure(
        len(shares) == len(weights) and sum(shares) == total,
        f"invariant broken: shares sum to {sum(shares)}, not {total}",
    )
    for i, (share, weight) in enumerate(zip(shares, weights, strict=True)):
        # |share - total * weight / weight_sum| < 1, so a zero weight gets 0.
        ensure(
            share >= 0 and abs(share * weight_sum - total * weight) < weight_sum,
            f"invariant broken: share {share} at position {i} is not within one "
            f"unit of its quota {total} * {weight} / {weight_sum}",
        )


# --- Commission -----------------------------------------------------------------------


def platform_fee(
    *, commission_sats: int, principal_sats: int, fee_bps: int, fee_basis: FeeBasis
) -> int:
    """The platform's (super user's) cut of one transaction's commission, in sats.

    On the ``"commission"`` basis the rate applies to the commission itself. On the
    ``"principal"`` basis it applies to the amount exchanged, but is capped at the
    commission: the platform is paid out of the commission, so taking more would
    leave the operator with a negative share.
    """
    commission = check_non_negative("commission_sats", commission_sats)
    principal = check_non_negative("principal_sats", principal_sats)
    bps = check_bps("fee_bps", fee_bps)
    basis = _check_fee_basis(fee_basis)

    if basis == "commission":
        fee = round_half_up(commission * bps, BPS_DENOMINATOR)
    else:
        fee = min(commission, round_half_up(principal * bps, BPS_DENOMINATOR))

    ensure(
        0 <= fee <= commission,
        f"invariant broken: platform fee {fee} is outside 0..{commission}",
    )
    return fee


@dataclass(frozen=True)
class CommissionSplit:
    """Who gets which sats of one transaction's commission.

    Checks its own arithmetic on construction, so a split that loses or invents a
    sat cannot exist.
    """

    commission_sats: int
    platform_fee_sats: int
    operator_fee_sats: int
    operator_legs_sats: tuple[int, ...]
    """The operator's fee split across the operator's rules, in the rules' order."""

    def __post_init__(self) -> None:
        amounts = (self.commission_sats, self.platform_fee_sats, self.operator_fee_sats)
        ensure(
            all(amount >= 0 for amount in (*amounts, *self.operator_legs_sats)),
            f"invariant broken: negative amount in {self!r}",
        )
        ensure(
            self.platform_fee_sats + self.operator_fee_sats == self.commission_sats,
            f"invariant broken: platform {self.platform_fee_sats} + operator "
            f"{self.operator_fee_sats} != commission {self.commission_sats}",
        )
        ensure(
            sum(self.operator_legs_sats) == self.operator_fee_sats,
            f"invariant broken: operator legs sum to {sum(self.operator_legs_sats)}, "
            f"not the operator fee {self.operator_fee_sats}",
        )


def _check_rule_weights(rule_weights_bps: object) -> tuple[int, ...]:
    """Return the rule weights if they are a non-empty partition of 100 %."""
    weights = _check_int_sequence("rule_weights_bps", rule_weights_bps)
    ensure(len(weights) > 0, "rule_weights_bps must not be empty")
    for i, weight in enumerate(weights):
        ensure(
            1 <= weight <= BPS_DENOMINATOR,
            f"rule_weights_bps[{i}] must be between 1 and {BPS_DENOMINATOR}, "
            f"got {weight}",
        )
    ensure(
        sum(weights) == BPS_DENOMINATOR,
        f"rule_weights_bps must sum to {BPS_DENOMINATOR}, got {sum(weights)}",
    )
    return weights


def split_commission(
    *,
    commission_sats: int,
    principal_sats: int,
    fee_bps: int,
    fee_basis: FeeBasis,
    rule_weights_bps: Sequence[int],
) -> CommissionSplit:
    """Split a commission into the platform fee and the operator's per-rule legs.

    The operator gets whatever the platform does not, so the two always add up to
    the commission; the operator's part is apportioned over the rules by
    :func:`largest_remainder`. The rule weights must sum to exactly 100 % so that
    no part of the operator's fee is left without an owner.
    """
    weights = _check_rule_weights(rule_weights_bps)
    commission = check_non_negative("commission_sats", commission_sats)
    platform = platform_fee(
        commission_sats=commission,
        principal_sats=principal_sats,
        fee_bps=fee_bps,
        fee_basis=fee_basis,
    )
    operator = commission - platform
    legs = largest_remainder(operator, weights)
    ensure(
        len(legs) == len(weights),
        f"invariant broken: {len(legs)} operator legs for {len(weights)} rules",
    )
    return CommissionSplit(
        commission_sats=commission,
        platform_fee_sats=platform,
        operator_fee_sats=operator,
        operator_legs_sats=legs,
    )


# --- Liquidity providers --------------------------------------------------------------


@dataclass(frozen=True)
class LpDistribution:
    """How a cash-out's principal is paid to the LPs whose fiat balances covered it.

    Checks its own arithmetic on construction; :func:`distribute_principal` also
    checks it against its inputs (the balances, the fiat and the principal).
    """

    fiat_minor: tuple[int, ...]
    """Fiat (minor units) debited from each LP, in the order of the balances."""
    sats: tuple[int, ...]
    """Sats paid to each LP, in the order of the balances."""
    allocated_sats: int
    """Principal paid to LPs: ``sum(sats)``."""
    unallocated_sats: int
    """Principal left in the machine wallet: the part no LP's fiat paid for."""
    uncovered_fiat_minor: int
    """Fiat of the transaction that no LP's balance covered."""

    def __post_init__(self) -> None:
        amounts = (
            *self.fiat_minor,
            *self.sats,
            self.allocated_sats,
            self.unallocated_sats,
            self.uncovered_fiat_minor,
        )
        ensure(
            all(amount >= 0 for amount in amounts),
            f"invariant broken: negative amount in {self!r}",
        )
        ensure(
            len(self.fiat_minor) == len(self.sats),
            f"invariant broken: {len(self.fiat_minor)} fiat shares but "
            f"{len(self.sats)} sat shares",
        )
        ensure(
            sum(self.sats) == self.allocated_sats,
            f"invariant broken: LP sats sum to {sum(self.sats)}, "
            f"not allocated {self.allocated_sats}",
        )
        for i, (fiat, sats) in enumerate(zip(self.fiat_minor, self.sats, strict=True)):
            ensure(
                fiat > 0 or sats == 0,
                f"invariant broken: LP {i} gets {sats} sats for no fiat",
            )


def distribute_principal(
    *, principal_sats: int, fiat_minor: int, balances_minor: Sequence[int]
) -> LpDistribution:
    """Pay a cash-out's principal to the LPs in proportion to the fiat they cover.

    ``balances_minor`` are the LPs' remaining fiat balances, ordered by enrolment
    (ties go to the larger balance, then to the earlier LP). If the balances cover
    the fiat handed out, the fiat is apportioned over the balances, never debiting
    an LP more than its balance, and the whole principal is paid over those fiat
    shares. If they do not, every balance is used up and the LPs get only the part
    of the principal their fiat paid for; the rest stays in the machine wallet
    (``unallocated_sats``) against the uncovered fiat, so the books still balance.
    """
    principal = check_non_negative("principal_sats", principal_sats)
    fiat = check_non_negative("fiat_minor", fiat_minor)
    balances = _check_int_sequence("balances_minor", balances_minor)
    for i, balance in enumerate(balances):
        ensure(balance >= 0, f"balances_minor[{i}] must be >= 0, got {balance}")
    covered_total = sum(balances)

    if fiat == 0 or covered_total == 0:
        fiat_shares = (0,) * len(balances)
        allocated = 0
    elif covered_total >= fiat:
        # Each share <= ceil(fiat * b / B) <= b, because fiat <= B.
        fiat_shares = largest_remainder(fiat, balances)
        allocated = principal
    else:
        fiat_shares = balances
        allocated = round_half_up(principal * covered_total, fiat)
    sats = largest_remainder(allocated, fiat_shares)

    distribution = LpDistribution(
        fiat_minor=fiat_shares,
        sats=sats,
        allocated_sats=allocated,
        unallocated_sats=principal - allocated,
        uncovered_fiat_minor=fiat - sum(fiat_shares),
    )
    _check_distribution(distribution, principal, fiat, balances)
    return distribution


def _check_distribution(
    distribution: LpDistribution,
    principal: int,
    fiat: int,
    balances: tuple[int, ...],
) -> None:
    """Check a distribution against the inputs it was computed from."""
    ensure(
        len(distribution.fiat_minor) == len(balances),
        f"invariant broken: {len(distribution.fiat_minor)} shares for "
        f"{len(balances)} LPs",
    )
    ensure(
        distribution.allocated_sats + distribution.unallocated_sats == principal,
        f"invariant broken: allocated {distribution.allocated_sats} + unallocated "
        f"{distribution.unallocated_sats} != principal {principal}",
    )
    ensure(
        sum(distribution.fiat_minor) + distribution.uncovered_fiat_minor == fiat,
        f"invariant broken: LP fiat {sum(distribution.fiat_minor)} + uncovered "
        f"{distribution.uncovered_fiat_minor} != fiat {fiat}",
    )
    for i, (share, balance) in enumerate(
        zip(distribution.fiat_minor, balances, strict=True)
    ):
        ensure(
            share <= balance,
            f"invariant broken: LP {i} debited {share}, more than its balance "
            f"{balance}",
        )


# --- A transaction's sats -------------------------------------------------------------


def check_cash_out_amounts(
    *, gross_sats: int, principal_sats: int, fee_sats: int
) -> None:
    """Check that a cash-out's gross is exactly its principal plus its fee.

    The customer pays ``gross``; it is then split into the principal (for the LPs)
    and the fee (for the commission split). Any gap would be sats lost or invented.
    """
    gross = check_non_negative("gross_sats", gross_sats)
    principal = check_non_negative("principal_sats", principal_sats)
    fee = check_non_negative("fee_sats", fee_sats)
    owed = customer_sats(direction="cash_out", principal_sats=principal, fee_sats=fee)
    ensure(
        gross == owed,
        f"gross_sats ({gross}) must equal principal_sats + fee_sats "
        f"({principal} + {fee} = {owed})",
    )


def customer_sats(*, direction: str, principal_sats: int, fee_sats: int) -> int:
    """The sats that move between the customer and the machine wallet.

    A cash-out customer pays the principal plus the commission; a cash-in customer
    receives the principal less the commission. This is the one place that says so.
    """
    principal = check_non_negative("principal_sats", principal_sats)
    fee = check_non_negative("fee_sats", fee_sats)
    if direction == "cash_out":
        return principal + fee
    ensure(direction == "cash_in", f"unknown direction {direction!r}")
    check_cash_in_amounts(principal_sats=principal, fee_sats=fee)
    return principal - fee


def check_cash_in_amounts(*, principal_sats: int, fee_sats: int) -> None:
    """Check a cash-in's amounts: non-negative, and a fee no larger than the principal.

    A fee above the principal would mean the customer pays more in commission than
    the bitcoin they receive, which is never a legitimate transaction.
    """
    principal = check_non_negative("principal_sats", principal_sats)
    fee = check_non_negative("fee_sats", fee_sats)
    ensure(
        fee <= principal,
        f"fee_sats ({fee}) must not exceed principal_sats ({principal})",
    )

"""The memo and extra a payee sees in their LNbits wallet for a payout leg."""

from __future__ import annotations

from satmachineadmin.memos import (
    MEMO_MAX,
    PaymentFacts,
    PayoutFacts,
    grouped,
    memo,
    payment_extra,
    payout_extra,
    payout_memo,
)

SHARE = PaymentFacts(
    kind="lp_distribution",
    label="Liquidity provider 3e27c096",
    sats=7_692,
    operator="carlos",
    machine="Lobby ATM",
    direction="cash_out",
    share_minor=5_000,
    total_minor=10_000,
    fiat_code="GTQ",
    exchange_rate="650000.00",
)


def test_an_lp_share_says_operator_machine_direction_fiat_and_rate():
    assert memo(SHARE) == (
        "SatMachine · carlos · Lobby ATM · cash-out · 50.00 of 100.00 GTQ @ 650,000"
    )
    assert payment_extra(SHARE) == {
        "operator": "carlos",
        "machine": "Lobby ATM",
        "direction": "cash-out",
        "fiat_code": "GTQ",
        "fiat_amount": "50.00",
        "fiat_total": "100.00",
        "exchange_rate": "650000.00",
        "paid_for": "liquidity provider's share",
    }


def test_split_legs_platform_fee_and_balance_settlements():
    split = SHARE.__class__(
        **{
            **SHARE.__dict__,
            "kind": "operator_split",
            "label": "Ana",
            "share_minor": None,
            "direction": "cash_in",
            "total_minor": 123_456_78,
        }
    )
    assert memo(split) == (
        "SatMachine · Lobby ATM · cash-in · Ana · 123,456.78 GTQ @ 650,000"
    )
    fee = SHARE.__class__(
        **{**SHARE.__dict__, "kind": "platform_fee", "share_minor": None}
    )
    assert memo(fee) == (
        "SatMachine · carlos · Lobby ATM · cash-out · platform fee · 100.00 GTQ "
        "@ 650,000"
    )
    balance = SHARE.__class__(
        **{
            **SHARE.__dict__,
            "kind": "lp_balance_settlement",
            "machine": None,
            "direction": None,
            "exchange_rate": "650000.5",
            "total_minor": 5_000,
        }
    )
    assert memo(balance) == (
        "SatMachine · carlos · balance settlement · 50.00 GTQ @ 650,000.5"
    )
    assert "machine" not in payment_extra(balance)


def test_a_memo_is_one_bounded_line():
    long = SHARE.__class__(
        **{
            **SHARE.__dict__,
            "operator": "o" * 300,
            "machine": "Lobby\nATM " + "m" * 300,
        }
    )
    text = memo(long)
    assert len(text) <= MEMO_MAX and "\n" not in text
    assert text.endswith("50.00 of 100.00 GTQ @ 650,000")  # the amounts stay
    assert grouped("1000000") == "1,000,000" and grouped("12.50") == "12.50"


def test_a_scheduled_lp_payout_names_operator_machine_sales_and_schedule():
    facts = PayoutFacts(
        operator="carlos", machines=("Lobby ATM",), sales=12, schedule="daily"
    )
    assert payout_memo(facts) == (
        "SatMachine · carlos · Lobby ATM · LP payout · 12 sales · daily"
    )
    assert payout_extra(facts) == {
        "operator": "carlos",
        "machine": "Lobby ATM",
        "paid_for": "liquidity provider payout",
        "sales": "12",
        "schedule": "daily",
    }
    one = PayoutFacts(
        operator="carlos", machines=("A", "B"), sales=1, schedule="threshold"
    )
    assert payout_memo(one) == (
        "SatMachine · carlos · 2 machines · LP payout · 1 sale · threshold"
    )
    assert payout_extra(one)["machines"] == "A, B"
    assert "machine" not in payout_extra(one)
    left_over = PayoutFacts(operator="o" * 300, machines=(), sales=3, schedule="each")
    text = payout_memo(left_over)
    assert text.endswith(" · LP payout · 3 sales · accrued")
    assert len(text) <= MEMO_MAX and "\n" not in text

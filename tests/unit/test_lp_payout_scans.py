"""Which accrued legs the worker's LP payout pass searches: all of them at first,
once a minute and whenever the clock went back; otherwise only those accrued
since the previous pass (less a margin for transactions still committing)."""

from __future__ import annotations

import pytest

from satmachineadmin.services import lp_payouts


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(lp_payouts._Scans, "full_at", None)
    monkeypatch.setattr(lp_payouts._Scans, "last_at", None)


def test_a_full_search_first_then_what_accrued_since_the_last_pass(fresh):
    margin = lp_payouts.COMMIT_MARGIN_S
    assert lp_payouts._since(1_000) is None
    assert lp_payouts._since(1_007) == 1_000 - margin
    assert lp_payouts._since(1_020) == 1_007 - margin


def test_a_full_search_once_a_minute_and_when_the_clock_went_back(fresh):
    every = lp_payouts.FULL_SCAN_EVERY_S
    assert lp_payouts._since(1_000) is None
    assert lp_payouts._since(1_000 + every - 1) is not None
    assert lp_payouts._since(1_000 + every) is None
    assert lp_payouts._since(500) is None  # a clock moved back
    assert lp_payouts._since(501) == 500 - lp_payouts.COMMIT_MARGIN_S

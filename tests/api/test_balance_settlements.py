"""LP balance settlements: the balance falls only by what is paid.

Each audit scenario is reproduced here as it was reported (an LP's 500.00 USD
balance; the tests pin LNbits' USD price at 100000 per BTC): a settlement LNbits
cannot pay, a rate that pays the LP nothing, a failure nobody could see or undo,
and a double submit.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import pytest

from helpers import API, Actor, add_machine, enrol_lp, fund
from helpers import balance as wallet_sats
from satmachineadmin.database import db
from satmachineadmin.services import balance_settlements, payouts, sending


@dataclass
class Lp:
    operator: Actor
    lp: Actor
    enrolment: str

    @property
    def settle_url(self) -> str:
        return f"{API}/lps/{self.enrolment}/settle"

    async def row(self, client) -> dict:
        listed = await client.get(f"{API}/lps", headers=self.operator.headers)
        return next(row for row in listed.json() if row["id"] == self.enrolment)

    async def seen_by_lp(self, client) -> dict:
        me = await client.get(f"{API}/lp/me", headers=self.lp.headers)
        return next(
            row
            for row in me.json()["balances"]
            if row["enrolment_id"] == self.enrolment
        )

    async def audit(self, client, action: str) -> list[dict]:
        rows = await client.get(
            f"{API}/audit?limit=1000", headers=self.operator.headers
        )
        return [row for row in rows.json() if row["action"] == action]


@pytest.fixture
async def usd_lp(client, make_user) -> Lp:
    """An operator whose LP has a confirmed 500.00 USD balance."""
    operator, lp = await make_user("op"), await make_user("lp")
    enrolment = (await enrol_lp(client, operator, lp, "USD"))["id"]
    deposit = await client.post(
        f"{API}/lps/{enrolment}/deposits",
        json={"fiat_amount": "500.00"},
        headers=operator.headers,
    )
    confirmed = await client.put(
        f"{API}/deposits/{deposit.json()['id']}/confirm", headers=operator.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    return Lp(operator, lp, enrolment)


@pytest.fixture
def failing_payments(monkeypatch):
    """LNbits refuses every payment of a leg, as it does when the paying wallet was
    emptied meanwhile; ``failing_payments["on"] = False`` lets them through."""
    from lnbits.exceptions import PaymentError

    real_pay_invoice = sending.pay_invoice
    switch = {"on": True}

    async def pay_invoice(**kwargs):
        if switch["on"]:
            raise PaymentError("Insufficient balance.", status="failed")
        return await real_pay_invoice(**kwargs)

    monkeypatch.setattr(sending, "pay_invoice", pay_invoice)
    return switch


def balances(row: dict) -> tuple[str, str, str, str]:
    return row["balance"], row["held"], row["distributed"], row["voided"]


# --- the audit's scenarios -----------------------------------------------------------


async def test_a_settlement_lnbits_cannot_pay_is_refused_before_anything_moves(
    client, usd_lp, monkeypatch
):
    """Was: a 50,000,000-sat leg (500.00 at 1000 per BTC) was recorded, failed
    at LNbits' invoice limit, and the LP's balance was 0.00 and counted as
    distributed."""
    from lnbits.settings import settings

    op = usd_lp.operator
    await fund(op.wallet_id, 1_000_000)
    audited = await client.post(
        usd_lp.settle_url,
        json={"wallet_id": op.wallet_id, "exchange_rate": "1000"},
        headers=op.headers,
    )
    assert audited.status_code == 400, audited.text
    # At LNbits' rate the 500.00 are 500,000 sats: above a limit of 100,000.
    monkeypatch.setattr(settings, "lnbits_max_outgoing_payment_amount_sats", 100_000)
    too_big = await client.post(
        usd_lp.settle_url, json={"wallet_id": op.wallet_id}, headers=op.headers
    )
    assert too_big.status_code == 400, too_big.text
    assert "more than LNbits allows in one payment (100000 sats)" in too_big.text
    monkeypatch.undo()
    monkeypatch.setattr(settings, "lnbits_max_incoming_payment_amount_sats", 100_000)
    into_lp = await client.post(
        usd_lp.settle_url, json={"wallet_id": op.wallet_id}, headers=op.headers
    )
    assert into_lp.status_code == 400, into_lp.text
    monkeypatch.undo()
    # More than the paying wallet holds: a second wallet of the operator's, empty.
    from lnbits.core.crud.wallets import create_wallet

    empty = await create_wallet(user_id=op.id, wallet_name="empty")
    unfunded = await client.post(
        usd_lp.settle_url, json={"wallet_id": empty.id}, headers=op.headers
    )
    assert unfunded.status_code == 400, unfunded.text
    assert "holds 0 sats, less than the 500,000 sats" in unfunded.text
    row = await usd_lp.row(client)
    assert balances(row) == ("500.00", "0.00", "0.00", "0.00")
    assert (
        await client.get(f"{API}/balance-settlements", headers=op.headers)
    ).json() == []
    assert await wallet_sats(op.wallet_id) == 1_000_000


async def test_a_rate_far_from_lnbits_is_refused(client, usd_lp, super_config):
    """Was: at 89000000000 USD per BTC, the LP's whole 500.00 (the audit's 890.00)
    was settled as paid for 1 sat."""
    op = usd_lp.operator
    await fund(op.wallet_id, 1_000_000)
    lp_before = await wallet_sats(usd_lp.lp.wallet_id)
    absurd = await client.post(
        usd_lp.settle_url,
        json={"wallet_id": op.wallet_id, "exchange_rate": "89000000000"},
        headers=op.headers,
    )
    assert absurd.status_code == 400, absurd.text
    assert "away from LNbits' current 100000.00" in absurd.text
    assert "at most 5.00 %" in absurd.text  # the default tolerance, 500 bps
    assert balances(await usd_lp.row(client)) == ("500.00", "0.00", "0.00", "0.00")
    assert await wallet_sats(usd_lp.lp.wallet_id) == lp_before

    # The tolerance is the super user's, bounded.
    for refused in (-1, 2001, "500"):
        response = await super_config.put({"lp_rate_tolerance_bps": refused})
        assert response.status_code == 400, (refused, response.text)
    saved = await super_config.put({"lp_rate_tolerance_bps": 200})
    assert saved.status_code == 200, saved.text
    assert saved.json()["lp_rate_tolerance_bps"] == 200
    try:
        outside = await client.post(
            usd_lp.settle_url,
            json={"wallet_id": op.wallet_id, "exchange_rate": "97999.99"},
            headers=op.headers,
        )
        assert outside.status_code == 400, outside.text
        inside = await client.post(
            usd_lp.settle_url,
            json={
                "wallet_id": op.wallet_id,
                "exchange_rate": "98000",
                "fiat_amount": "98.00",
            },
            headers=op.headers,
        )
        assert inside.status_code == 201, inside.text
        assert inside.json()["rate_source"] == "operator"
        assert (inside.json()["sats"], inside.json()["status"]) == (100_000, "paid")
    finally:
        restored = await super_config.put({"lp_rate_tolerance_bps": 500})
        assert restored.status_code == 200, restored.text


async def test_without_an_lnbits_rate_an_operator_rate_needs_a_confirmation(
    client, usd_lp, monkeypatch
):
    async def no_price(code):
        return 0.0, 0.0

    monkeypatch.setattr(
        balance_settlements, "get_fiat_rate_and_price_satoshis", no_price
    )
    op = usd_lp.operator
    await fund(op.wallet_id, 1_000_000)
    at_lnbits_rate = await client.post(
        usd_lp.settle_url, json={"wallet_id": op.wallet_id}, headers=op.headers
    )
    assert at_lnbits_rate.status_code == 400, at_lnbits_rate.text
    unconfirmed = await client.post(
        usd_lp.settle_url,
        json={"wallet_id": op.wallet_id, "exchange_rate": "100000"},
        headers=op.headers,
    )
    assert unconfirmed.status_code == 400, unconfirmed.text
    assert "confirm that you want to use it anyway" in unconfirmed.text
    not_a_bool = await client.post(
        usd_lp.settle_url,
        json={
            "wallet_id": op.wallet_id,
            "exchange_rate": "100000",
            "confirm_without_market_rate": "yes",
        },
        headers=op.headers,
    )
    assert not_a_bool.status_code == 400, not_a_bool.text
    confirmed = await client.post(
        usd_lp.settle_url,
        json={
            "wallet_id": op.wallet_id,
            "exchange_rate": "100000",
            "fiat_amount": "100.00",
            "confirm_without_market_rate": True,
        },
        headers=op.headers,
    )
    assert confirmed.status_code == 201, confirmed.text
    settled = confirmed.json()
    assert (settled["rate_source"], settled["sats"]) == ("operator_unverified", 100_000)
    (audited,) = await usd_lp.audit(client, "lp.settle_balance")
    assert audited["object_id"] == settled["id"]
    assert audited["detail"]["confirmed_without_market_rate"] is True
    assert audited["detail"]["lnbits_rate"] is None
    assert audited["detail"]["rate"] == "100000"


@pytest.mark.slow
async def test_a_failed_settlement_is_held_listed_and_voided(
    client, usd_lp, make_user, failing_payments
):
    """Was: the failed settlement's 500.00 were gone from the balance and shown as
    distributed, the worklist did not list it, and nothing could undo it."""
    op, lp = usd_lp.operator, usd_lp.lp
    await fund(op.wallet_id, 1_000_000)
    created = await client.post(
        usd_lp.settle_url, json={"wallet_id": op.wallet_id}, headers=op.headers
    )
    assert created.status_code == 201, created.text
    failed = created.json()
    assert (failed["status"], failed["last_error"]) == (
        "failed",
        "Insufficient balance.",
    )
    # Held: not available any more, not distributed, still the LP's.
    row = await usd_lp.row(client)
    assert balances(row) == ("0.00", "500.00", "0.00", "0.00")
    assert (row["held_sats"], row["distributed_sats"]) == (500_000, 0)
    seen = await usd_lp.seen_by_lp(client)
    assert balances(seen) == ("0.00", "500.00", "0.00", "0.00")
    mine = await client.get(f"{API}/lp/balance-settlements", headers=lp.headers)
    assert [(r["id"], r["state"], r["fiat_amount"]) for r in mine.json()] == [
        (failed["id"], "held", "500.00")
    ]
    again = await client.post(
        usd_lp.settle_url, json={"wallet_id": op.wallet_id}, headers=op.headers
    )
    assert again.status_code == 400, again.text  # the held 500.00 are not settled twice

    worklist = await client.get(
        f"{API}/worklist/balance-settlements", headers=op.headers
    )
    assert [(r["id"], r["last_error"]) for r in worklist.json()] == [
        (failed["id"], "Insufficient balance.")
    ]
    other = await make_user("op")
    foreign = await client.post(
        f"{API}/balance-settlements/{failed['id']}/void", headers=other.headers
    )
    assert foreign.status_code == 404
    assert (
        await client.get(f"{API}/worklist/balance-settlements", headers=other.headers)
    ).json() == []

    retried = await client.post(
        f"{API}/balance-settlements/{failed['id']}/retry", headers=op.headers
    )
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["attempts"]) == ("failed", 2)
    voided = await client.post(
        f"{API}/balance-settlements/{failed['id']}/void", headers=op.headers
    )
    assert voided.status_code == 200, voided.text
    assert voided.json()["status"] == "void"
    row = await usd_lp.row(client)
    assert balances(row) == ("500.00", "0.00", "0.00", "500.00")
    assert balances(await usd_lp.seen_by_lp(client)) == balances(row)
    mine = await client.get(f"{API}/lp/balance-settlements", headers=lp.headers)
    assert [r["state"] for r in mine.json()] == ["voided"]
    assert (
        await client.get(f"{API}/worklist/balance-settlements", headers=op.headers)
    ).json() == []
    (audited,) = await usd_lp.audit(client, "balance_settlement.void")
    assert audited["object_id"] == failed["id"]
    assert audited["detail"]["fiat_minor"] == 50_000
    # A void is final: neither voided again nor retried, and never paid.
    for action in ("void", "retry"):
        response = await client.post(
            f"{API}/balance-settlements/{failed['id']}/{action}", headers=op.headers
        )
        assert response.status_code == 409, (action, response.text)
        assert "this one is void" in response.text
    failing_payments["on"] = False
    await payouts.process_due()
    assert await wallet_sats(op.wallet_id) == 1_000_000


@pytest.mark.slow
async def test_a_failed_settlement_retried_is_paid_once_and_says_so(
    client, usd_lp, failing_payments
):
    op, lp = usd_lp.operator, usd_lp.lp
    await fund(op.wallet_id, 1_000_000)
    lp_before = await wallet_sats(lp.wallet_id)
    failed = (
        await client.post(
            usd_lp.settle_url,
            json={"wallet_id": op.wallet_id, "fiat_amount": "200.00"},
            headers=op.headers,
        )
    ).json()
    assert failed["status"] == "failed"
    assert balances(await usd_lp.row(client)) == ("300.00", "200.00", "0.00", "0.00")
    failing_payments["on"] = False
    retried = await client.post(
        f"{API}/balance-settlements/{failed['id']}/retry", headers=op.headers
    )
    assert retried.status_code == 200, retried.text
    assert (retried.json()["status"], retried.json()["last_error"]) == ("paid", None)
    row = await usd_lp.row(client)
    assert balances(row) == ("300.00", "0.00", "200.00", "0.00")
    assert row["distributed_sats"] == 200_000
    assert await wallet_sats(lp.wallet_id) - lp_before == 200_000
    (audited,) = await usd_lp.audit(client, "balance_settlement.retry")
    assert audited["detail"] == {"status": "paid", "error": None}
    mine = await client.get(f"{API}/lp/balance-settlements", headers=lp.headers)
    assert [r["state"] for r in mine.json()] == ["paid"]
    paid_again = await client.post(
        f"{API}/balance-settlements/{failed['id']}/retry", headers=op.headers
    )
    assert paid_again.status_code == 409, paid_again.text
    not_voided = await client.post(
        f"{API}/balance-settlements/{failed['id']}/void", headers=op.headers
    )
    assert not_voided.status_code == 409, not_voided.text
    assert balances(await usd_lp.row(client)) == ("300.00", "0.00", "200.00", "0.00")
    assert await wallet_sats(lp.wallet_id) - lp_before == 200_000


async def test_a_settlement_being_paid_cannot_be_voided(
    client, usd_lp, failing_payments
):
    op = usd_lp.operator
    await fund(op.wallet_id, 1_000_000)
    failed = (
        await client.post(
            usd_lp.settle_url, json={"wallet_id": op.wallet_id}, headers=op.headers
        )
    ).json()
    # A worker claims the leg for its next attempt.
    await db.execute(
        "UPDATE satmachineadmin.payout_legs SET status = 'paying' "
        "WHERE settlement_id = :id",
        {"id": failed["id"]},
    )
    refused = await client.post(
        f"{API}/balance-settlements/{failed['id']}/void", headers=op.headers
    )
    assert refused.status_code == 409, refused.text
    assert "this one is paying" in refused.text
    assert balances(await usd_lp.row(client)) == ("0.00", "500.00", "0.00", "0.00")


async def test_a_failed_leg_whose_payment_lnbits_shows_sent_is_not_voided(
    client, usd_lp, monkeypatch
):
    """A leg can be recorded as failed after LNbits sent its payment (the payee's
    side was missing): voiding it would give the LP the amount twice."""
    op = usd_lp.operator
    await fund(op.wallet_id, 1_000_000)
    sent = (
        await client.post(
            usd_lp.settle_url,
            json={"wallet_id": op.wallet_id, "fiat_amount": "100.00"},
            headers=op.headers,
        )
    ).json()
    assert sent["status"] == "paid"
    await db.execute(
        "UPDATE satmachineadmin.payout_legs SET status = 'failed', "
        "last_error = 'payee side missing' WHERE settlement_id = :id",
        {"id": sent["id"]},
    )
    refused = await client.post(
        f"{API}/balance-settlements/{sent['id']}/void", headers=op.headers
    )
    assert refused.status_code == 409, refused.text
    assert "as sent or in flight" in refused.text
    rows = await client.get(f"{API}/balance-settlements", headers=op.headers)
    assert [r["status"] for r in rows.json()] == ["failed"]  # rolled back


@pytest.mark.slow
async def test_an_idempotency_key_settles_a_double_submit_once(
    client, usd_lp, make_user
):
    op, lp = usd_lp.operator, usd_lp.lp
    await fund(op.wallet_id, 1_000_000)
    lp_before = await wallet_sats(lp.wallet_id)
    key = {**op.headers, "Idempotency-Key": f"settle-{uuid.uuid4().hex}"}
    body = {"wallet_id": op.wallet_id, "fiat_amount": "100.00"}
    first, second = await asyncio.gather(
        client.post(usd_lp.settle_url, json=body, headers=key),
        client.post(usd_lp.settle_url, json=body, headers=key),
    )
    assert sorted([first.status_code, second.status_code]) == [200, 201], (
        first.text,
        second.text,
    )
    # The same settlement; the repeat reads it as it stands (perhaps still
    # being paid by the first request).
    assert first.json()["id"] == second.json()["id"]
    created = first if first.status_code == 201 else second
    assert created.json()["status"] == "paid"
    later = await client.post(usd_lp.settle_url, json=body, headers=key)
    assert (later.status_code, later.json()["id"]) == (200, first.json()["id"])
    other_body = await client.post(
        usd_lp.settle_url, json={**body, "fiat_amount": "100.01"}, headers=key
    )
    assert other_body.status_code == 409, other_body.text
    assert "already used for a different settlement" in other_body.text
    assert await wallet_sats(lp.wallet_id) - lp_before == 100_000
    assert balances(await usd_lp.row(client)) == ("400.00", "0.00", "100.00", "0.00")
    listed = await client.get(f"{API}/balance-settlements", headers=op.headers)
    assert len(listed.json()) == 1

    # Without a key, a second submit is a second settlement (the documented gap
    # the key closes); with a malformed key, a plain refusal.
    bad = await client.post(
        usd_lp.settle_url,
        json=body,
        headers={**op.headers, "Idempotency-Key": "no spaces allowed"},
    )
    assert bad.status_code == 400, bad.text
    assert "Idempotency-Key" in bad.text
    # The key is the operator's own: another operator may use the same one.
    other, their_lp = await make_user("op"), await make_user("lp")
    their_enrolment = (await enrol_lp(client, other, their_lp, "USD"))["id"]
    deposit = await client.post(
        f"{API}/lps/{their_enrolment}/deposits",
        json={"fiat_amount": "100.00"},
        headers=other.headers,
    )
    await client.put(
        f"{API}/deposits/{deposit.json()['id']}/confirm", headers=other.headers
    )
    await fund(other.wallet_id, 1_000_000)
    theirs = await client.post(
        f"{API}/lps/{their_enrolment}/settle",
        json=body | {"wallet_id": other.wallet_id},
        headers={**other.headers, "Idempotency-Key": key["Idempotency-Key"]},
    )
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["id"] != first.json()["id"]


async def test_held_amounts_are_not_allocated_to_a_cash_out(
    client, usd_lp, failing_payments
):
    """The held amount is out of the balance cash-outs draw on: if the failed
    settlement is retried and paid, the LP is not paid for the same fiat twice."""
    op = usd_lp.operator
    await fund(op.wallet_id, 1_000_000)
    failed = (
        await client.post(
            usd_lp.settle_url, json={"wallet_id": op.wallet_id}, headers=op.headers
        )
    ).json()
    assert failed["status"] == "failed"
    machine = await add_machine(client, op, name="USD ATM", fiat_code="USD")
    cash_out = await client.post(
        f"{API}/settlements/manual",
        json={
            "machine_id": machine["id"],
            "direction": "cash_out",
            "principal_sats": 100_000,
            "fee_sats": 0,
            "fiat_amount": "100.00",
            "fiat_code": "USD",
            "exchange_rate": "100000",
        },
        headers=op.headers,
    )
    assert cash_out.status_code == 201, cash_out.text
    assert cash_out.json()["lp_allocated_sats"] == 0
    assert balances(await usd_lp.row(client)) == ("0.00", "500.00", "0.00", "0.00")


async def test_the_lp_totals_add_held_and_voided(client, usd_lp, failing_payments):
    op, lp = usd_lp.operator, usd_lp.lp
    await fund(op.wallet_id, 1_000_000)
    for amount in ("100.00", "50.00"):
        response = await client.post(
            usd_lp.settle_url,
            json={"wallet_id": op.wallet_id, "fiat_amount": amount},
            headers=op.headers,
        )
        assert response.json()["status"] == "failed"
    voided = response.json()["id"]
    assert (
        await client.post(
            f"{API}/balance-settlements/{voided}/void", headers=op.headers
        )
    ).status_code == 200
    me = (await client.get(f"{API}/lp/me", headers=lp.headers)).json()
    (total,) = me["totals"]
    assert (total["balance"], total["held"], total["voided"]) == (
        "400.00",
        "100.00",
        "50.00",
    )
    assert total["held_sats"] == 100_000


async def test_lnbits_daily_withdrawal_limit_is_checked_first(
    client, usd_lp, monkeypatch
):
    from lnbits.settings import settings

    op = usd_lp.operator
    await fund(op.wallet_id, 1_000_000)
    first = await client.post(
        usd_lp.settle_url,
        json={"wallet_id": op.wallet_id, "fiat_amount": "100.00"},
        headers=op.headers,
    )
    assert first.json()["status"] == "paid", first.text
    monkeypatch.setattr(settings, "lnbits_wallet_limit_daily_max_withdraw", 150_000)
    second = await client.post(
        usd_lp.settle_url,
        json={"wallet_id": op.wallet_id, "fiat_amount": "100.00"},
        headers=op.headers,
    )
    assert second.status_code == 400, second.text
    assert "Daily withdrawal limit of 150000 sats reached" in second.text
    assert balances(await usd_lp.row(client)) == ("400.00", "0.00", "100.00", "0.00")

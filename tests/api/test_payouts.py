"""Paying settlement legs: amounts as previewed, exactly once, failures and retries."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import pytest_asyncio
from payout_business import Business, wait_for_status

from helpers import API, balance, fund
from satmachineadmin import crud
from satmachineadmin.services import payouts, sending


@pytest_asyncio.fixture(loop_scope="session")
async def business(client, super_user, make_user, super_config) -> Business:
    return await Business(client, super_user, make_user, super_config).build()


@pytest.mark.slow
async def test_legs_are_paid_as_the_preview_predicts(client, business):
    preview = await client.post(
        f"{API}/splits/preview",
        json={"commission_sats": 100, "direction": "cash_out"},
        headers=business.operator.headers,
    )
    predicted = [leg["sats"] for leg in preview.json()["legs"]]
    assert predicted == [30, 35, 21, 14]

    await fund(business.machine["wallet_id"], 100_100)  # the customer's payment
    before = await business.balances()
    settlement = await business.cash_out()
    done = await wait_for_status(client, business.operator, settlement["id"], "settled")
    assert done["status"] == "settled", done
    after = await business.balances()
    gained = {wallet: after[wallet] - before[wallet] for wallet in after}
    assert gained[business.super_user.wallet_id] == 30
    assert gained[business.self_wallet] == 35
    assert gained[business.employee.wallet_id] == 21
    assert gained[business.maintenance.wallet_id] == 14
    # 500.00 GTQ over balances of 600 and 400: 300 and 200, i.e. 60 % and 40 %.
    assert gained[business.lps[0].wallet_id] == 60_000
    assert gained[business.lps[1].wallet_id] == 40_000
    assert gained[business.machine["wallet_id"]] == -100_100
    assert sum(gained.values()) == 0  # no sat lost or invented
    assert all(leg["status"] == "paid" for leg in done["legs"])
    assert all(leg["payment_hash"] and leg["attempts"] == 1 for leg in done["legs"])


@pytest.mark.slow
async def test_a_replayed_landing_pays_once(client, business):
    await fund(business.machine["wallet_id"], 100_100)
    before = await business.balances()
    tx_id = uuid.uuid4().hex
    landed = [await business.cash_out(tx_id=tx_id) for _ in range(3)]
    assert len({settlement["id"] for settlement in landed}) == 1
    await wait_for_status(client, business.operator, landed[0]["id"], "settled")
    for _ in range(3):
        await payouts.process_settlement(landed[0]["id"])
    after = await business.balances()
    assert (
        after[business.super_user.wallet_id] - before[business.super_user.wallet_id]
        == 30
    )
    assert (
        after[business.machine["wallet_id"]] - before[business.machine["wallet_id"]]
        == -100_100
    )
    legs = await crud.legs_of(settlement_id=landed[0]["id"])
    assert len(legs) == 6


@pytest.mark.slow
async def test_concurrent_workers_pay_each_leg_once(client, business):
    await fund(business.machine["wallet_id"], 100_100)
    before = await business.balances()
    settlement = await business.cash_out()
    await asyncio.gather(
        *(payouts.process_settlement(settlement["id"]) for _ in range(4))
    )
    done = await wait_for_status(client, business.operator, settlement["id"], "settled")
    after = await business.balances()
    assert (
        after[business.machine["wallet_id"]] - before[business.machine["wallet_id"]]
        == -100_100
    )
    assert all(leg["attempts"] == 1 for leg in done["legs"])


@pytest.mark.slow
async def test_a_crash_between_paying_and_recording_is_reconciled(
    client, business, paused_worker
):
    """The worker paid the leg's invoice and died before writing "paid": the next
    worker finds the payment by its hash and records it, paying nothing again."""
    from lnbits.core.services import pay_invoice

    # The app's own worker stays out of the way while the crash is staged.
    resume = paused_worker  # the callable that lets it pay again
    await fund(business.machine["wallet_id"], 100_100)
    settlement = await business.cash_out()
    legs = [leg.dict() for leg in await crud.legs_of(settlement_id=settlement["id"])]
    first = legs[0]
    now = int(time.time())
    claimed = await crud.claim_leg(leg_id=first["id"], now=now, stale_before=now)
    assert claimed
    invoice = await payouts._leg_invoice(claimed)
    await pay_invoice(
        wallet_id=first["source_wallet_id"],
        payment_request=invoice,
        tag=payouts.EXT_TAG,
    )
    super_after_crash = await balance(business.super_user.wallet_id)
    # The dead worker's claim is stale: make it look old.
    from satmachineadmin.database import db

    await db.execute(
        "UPDATE satmachineadmin.payout_legs SET claimed_at = 0 WHERE id = :id",
        {"id": first["id"]},
    )
    resume()
    done = await wait_for_status(client, business.operator, settlement["id"], "settled")
    assert done["status"] == "settled"
    assert await balance(business.super_user.wallet_id) == super_after_crash
    paid_first = next(leg for leg in done["legs"] if leg["id"] == first["id"])
    assert paid_first["status"] == "paid" and paid_first["attempts"] == 2


@pytest.mark.slow
async def test_a_worker_whose_claim_was_taken_over_pays_and_records_nothing(
    client, business, monkeypatch, paused_worker
):
    """A worker that stalled past STALE_PAYING_S lost its leg to another: it may
    neither fix an invoice of its own on the leg (and pay it) nor write its
    outcome over the new claimant's."""

    await fund(business.machine["wallet_id"], 100_100)
    settlement = await business.cash_out()
    leg_id = (await crud.legs_of(settlement_id=settlement["id"]))[0].id
    now = int(time.time())
    stalled = await crud.claim_leg(
        leg_id=leg_id, now=now - payouts.STALE_PAYING_S - 1, stale_before=0
    )
    assert stalled
    current = await crud.claim_leg(
        leg_id=leg_id, now=now, stale_before=now - payouts.STALE_PAYING_S
    )
    assert current
    with pytest.raises(payouts.ClaimLost):
        await payouts._leg_invoice(stalled)
    assert not await crud.finish_leg(
        leg_id=leg_id, claimed_at=stalled.claimed_at, status="failed", now=now
    )
    leg = await crud.get_leg(leg_id=leg_id)
    assert leg is not None
    assert leg.status == "paying" and leg.payment_hash is None
    assert leg.claimed_at == current.claimed_at


@pytest.mark.slow
async def test_failed_leg_goes_to_the_worklist_and_retry_pays_only_it(client, business):
    from lnbits.core.crud import delete_wallet

    await fund(business.machine["wallet_id"], 100_100)
    before = await business.balances()
    await delete_wallet(
        user_id=business.employee.id, wallet_id=business.employee.wallet_id
    )
    settlement = await business.cash_out()
    done = await wait_for_status(client, business.operator, settlement["id"], "failed")
    failed = [leg for leg in done["legs"] if leg["status"] == "failed"]
    assert [leg["label"] for leg in failed] == ["employee"]
    assert "no longer exists" in failed[0]["last_error"]
    assert failed[0]["attempts"] == 1
    assert all(leg["status"] == "paid" for leg in done["legs"] if leg not in failed)

    worklist = await client.get(f"{API}/worklist", headers=business.operator.headers)
    assert [s["id"] for s in worklist.json()] == [settlement["id"]]

    await delete_wallet(
        user_id=business.employee.id,
        wallet_id=business.employee.wallet_id,
        deleted=False,
    )
    retried = await client.post(
        f"{API}/settlements/{settlement['id']}/retry",
        headers=business.operator.headers,
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "settled"
    after = await business.balances()
    gained = {wallet: after[wallet] - before[wallet] for wallet in after}
    assert gained[business.employee.wallet_id] == 21
    assert gained[business.super_user.wallet_id] == 30  # paid once, not again
    assert gained[business.machine["wallet_id"]] == -100_100
    employee_leg = next(
        leg for leg in retried.json()["legs"] if leg["label"] == "employee"
    )
    assert employee_leg["attempts"] == 2
    empty = await client.get(f"{API}/worklist", headers=business.operator.headers)
    assert empty.json() == []


@pytest.mark.slow
async def test_an_unfunded_machine_fails_and_backs_off(client, business):
    settlement = await business.cash_out(principal=10_000, fee_sats=10)
    done = await wait_for_status(client, business.operator, settlement["id"], "failed")
    assert done["status"] == "failed"
    legs = [leg.dict() for leg in await crud.legs_of(settlement_id=settlement["id"])]
    unpaid = [leg for leg in legs if leg["status"] == "failed"]
    assert unpaid and all(leg["next_attempt_at"] > time.time() for leg in unpaid)
    assert payouts.backoff_s(1) == 30 and payouts.backoff_s(20) == 3600


@pytest.mark.slow
async def test_lp_balance_settled_in_parts_ends_at_exactly_zero(client, business):
    op = business.operator
    lps = (await client.get(f"{API}/lps", headers=op.headers)).json()
    first = next(e for e in lps if e["name"] == business.lps[0].username)
    assert first["balance"] == "600.00"
    await fund(op.wallet_id, 1_000_000)
    lp_before = await balance(business.lps[0].wallet_id)

    refused = [
        ({"wallet_id": business.employee.wallet_id}, 400, "your own wallets"),
        ({"wallet_id": op.wallet_id, "fiat_amount": "600.01"}, 400, "remaining"),
        ({"wallet_id": op.wallet_id, "fiat_amount": "0"}, 400, "remaining"),
        ({"wallet_id": op.wallet_id, "exchange_rate": "0"}, 400, "greater than zero"),
        ({"wallet_id": op.wallet_id, "fiat_amount": 10.5}, 400, "decimal"),
    ]
    for body, status, message in refused:
        response = await client.post(
            f"{API}/lps/{first['id']}/settle", json=body, headers=op.headers
        )
        assert response.status_code == status, (body, response.text)
        assert message in response.text, (body, response.text)

    # An operator's rate within the platform's tolerance (5 %) of LNbits'.
    part = await client.post(
        f"{API}/lps/{first['id']}/settle",
        json={
            "wallet_id": op.wallet_id,
            "fiat_amount": "96.00",
            "exchange_rate": "480000.00",
            "note": "cash back",
        },
        headers=op.headers,
    )
    assert part.status_code == 201, part.text
    assert part.json()["sats"] == 20_000  # 96.00 at 480000.00 per BTC
    assert part.json()["rate_source"] == "operator"
    assert part.json()["status"] == "paid"
    # The rest at LNbits' rate (the tests pin GTQ at 500000 per BTC).
    rest = await client.post(
        f"{API}/lps/{first['id']}/settle",
        json={"wallet_id": op.wallet_id},
        headers=op.headers,
    )
    assert rest.status_code == 201, rest.text
    assert rest.json()["fiat_amount"] == "504.00"
    assert rest.json()["exchange_rate"] == "500000.00"
    assert rest.json()["rate_source"] == "lnbits"
    assert rest.json()["sats"] == 100_800

    lps = (await client.get(f"{API}/lps", headers=op.headers)).json()
    settled = next(e for e in lps if e["id"] == first["id"])
    assert settled["balance"] == "0.00"
    assert await balance(business.lps[0].wallet_id) - lp_before == 120_800
    nothing_left = await client.post(
        f"{API}/lps/{first['id']}/settle",
        json={"wallet_id": op.wallet_id},
        headers=op.headers,
    )
    assert nothing_left.status_code == 400
    listed = await client.get(f"{API}/balance-settlements", headers=op.headers)
    assert {row["id"] for row in listed.json()} == {
        part.json()["id"],
        rest.json()["id"],
    }
    other = await business.make_user("op")
    foreign = await client.post(
        f"{API}/lps/{first['id']}/settle",
        json={"wallet_id": other.wallet_id},
        headers=other.headers,
    )
    assert foreign.status_code == 404
    assert (
        await client.get(f"{API}/balance-settlements", headers=other.headers)
    ).json() == []


@pytest.mark.slow
async def test_lp_auto_forward_sends_once_and_survives_failures(
    client, business, monkeypatch
):
    from lnbits.core.services import create_invoice

    from satmachineadmin.services import forwarding

    lp = business.lps[1]
    cold = await business.make_user("cold")
    refused = await client.put(
        f"{API}/lp/forwarding",
        json={"ln_address": "not-an-address", "fee_reserve_bps": 100},
        headers=lp.headers,
    )
    assert refused.status_code == 400
    nobody = await business.make_user("nolp")
    assert (
        await client.put(
            f"{API}/lp/forwarding", json={"ln_address": None}, headers=nobody.headers
        )
    ).status_code == 404
    saved = await client.put(
        f"{API}/lp/forwarding",
        json={"ln_address": "Cold@Example.com", "fee_reserve_bps": 100},
        headers=lp.headers,
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["ln_address"] == "cold@example.com"

    requested: list[tuple[str, int]] = []
    outage = {"down": True}

    async def lightning_address(address: str, amount_msat: int) -> str:
        requested.append((address, amount_msat))
        if outage["down"]:
            raise RuntimeError("example.com did not answer")
        invoice = await create_invoice(
            wallet_id=cold.wallet_id, amount=amount_msat // 1000, memo="forward"
        )
        return invoice.bolt11

    monkeypatch.setattr(sending, "get_pr_from_lnurl", lightning_address)
    await fund(business.machine["wallet_id"], 100_100)
    hot_before = await balance(lp.wallet_id)
    settlement = await business.cash_out()
    await wait_for_status(client, business.operator, settlement["id"], "settled")
    await forwarding.send_due()

    forwards = (await client.get(f"{API}/lp/forwards", headers=lp.headers)).json()
    assert [(f["sats"], f["status"]) for f in forwards] == [(39_600, "failed")]
    assert "did not answer" in forwards[0]["last_error"]
    assert forwards[0]["next_attempt_at"] > time.time()
    # Nothing lost: the distribution is still in the LP's own wallet.
    assert await balance(lp.wallet_id) - hot_before == 40_000

    outage["down"] = False
    from satmachineadmin.database import db

    await db.execute(
        "UPDATE satmachineadmin.forwards SET next_attempt_at = 0 WHERE id = :id",
        {"id": forwards[0]["id"]},
    )
    await asyncio.gather(forwarding.send_due(), forwarding.send_due())
    await forwarding.send_due()
    forwards = (await client.get(f"{API}/lp/forwards", headers=lp.headers)).json()
    assert [(f["status"], f["attempts"]) for f in forwards] == [("sent", 2)]
    assert await balance(cold.wallet_id) == 39_600
    assert await balance(lp.wallet_id) - hot_before == 400  # the 1 % reserve
    assert requested[-1] == ("cold@example.com", 39_600_000)
    assert forwarding.forward_amount(40_000, 100) == 39_600
    assert forwarding.forward_amount(1, 100) == 0


@pytest.mark.slow
async def test_a_lightning_address_split_is_paid_through_lnurl(
    client, business, monkeypatch
):
    from lnbits.core.services import create_invoice

    op = business.operator
    tech = await business.make_user("tech")
    rules = [
        {"label": "self", "wallet_id": op.wallet_id, "weight_bps": 8000},
        {"label": "technician", "ln_address": "tech@example.com", "weight_bps": 2000},
    ]
    response = await client.put(
        f"{API}/splits", json={"rules": rules}, headers=op.headers
    )
    assert response.status_code == 200, response.text
    served: dict = {"ok": False, "amounts": []}

    async def lightning_address(address: str, amount_msat: int) -> str:
        served["amounts"].append(amount_msat)
        if not served["ok"]:
            raise RuntimeError("no route to example.com")
        invoice = await create_invoice(
            wallet_id=tech.wallet_id, amount=amount_msat // 1000, memo="split"
        )
        return invoice.bolt11

    monkeypatch.setattr(sending, "get_pr_from_lnurl", lightning_address)
    await fund(business.machine["wallet_id"], 100_100)
    settlement = await business.cash_out()
    failed = await wait_for_status(client, op, settlement["id"], "failed")
    leg = next(leg for leg in failed["legs"] if leg["label"] == "technician")
    assert leg["status"] == "failed" and "no route" in leg["last_error"]
    assert leg["sats"] == 14  # 20 % of the operator's 70

    served["ok"] = True
    retried = await client.post(
        f"{API}/settlements/{settlement['id']}/retry", headers=op.headers
    )
    assert retried.json()["status"] == "settled", retried.json()
    assert await balance(tech.wallet_id) == 14
    assert served["amounts"] == [14_000, 14_000]


async def test_the_market_rate_is_the_float_rounded_half_up_to_cents(monkeypatch):
    from satmachineadmin.errors import InvalidInput
    from satmachineadmin.services import balance_settlements

    async def price_of(value):
        async def fake(code):
            return 0.0, value

        monkeypatch.setattr(
            balance_settlements, "get_fiat_rate_and_price_satoshis", fake
        )
        return await balance_settlements._market_rate("USD")

    assert str(await price_of(65_432.125)) == "65432.13"  # half up, not to even
    assert str(await price_of(65_432.0)) == "65432.00"
    for unusable in (0.0, -1.0, 0.004, float("nan"), float("inf"), 1e20):
        with pytest.raises(InvalidInput):
            await price_of(unusable)


async def test_a_sender_whose_forward_was_taken_over_pays_and_records_nothing(
    client, monkeypatch
):
    from types import SimpleNamespace

    from satmachineadmin.services import forwarding

    forward_id = uuid.uuid4().hex
    now = int(time.time())
    await crud.insert_forward_once(
        row={
            "id": forward_id,
            "leg_id": forward_id,
            "lp_id": "lp",
            "wallet_id": "wallet",
            "ln_address": "cold@example.com",
            "sats": 1_000,
            "status": "pending",
            "created_at": now,
            "updated_at": now,
        }
    )
    stale = now - forwarding.STALE_SENDING_S - 1
    stalled = await crud.claim_forward(forward_id=forward_id, now=stale, stale_before=0)
    assert stalled
    current = await crud.claim_forward(
        forward_id=forward_id, now=now, stale_before=now - forwarding.STALE_SENDING_S
    )
    assert current

    async def lightning_address(address: str, amount_msat: int) -> str:
        return "lnbc-stalled"

    monkeypatch.setattr(sending, "get_pr_from_lnurl", lightning_address)
    monkeypatch.setattr(
        sending,
        "decode_bolt11",
        lambda _: SimpleNamespace(amount_msat=1_000_000, payment_hash="ab" * 32),
    )
    with pytest.raises(forwarding.ClaimLost):
        await forwarding._invoice(stalled)
    assert not await crud.update_forward(
        forward_id=forward_id,
        claimed_at=stalled.updated_at,
        fields={"status": "failed"},
    )
    rows = await crud.list_forwards(lp_id="lp")
    mine = next(row for row in rows if row.id == forward_id)
    assert mine.status == "sending" and mine.payment_hash is None
    assert mine.updated_at == current.updated_at


@pytest.mark.slow
async def test_a_backlog_is_found_oldest_sale_first(business, paused_worker):
    """Settlements waiting to be paid come back in the order their sales were
    made, whatever their ids: under a backlog the oldest are paid first."""
    from satmachineadmin.database import db

    await fund(business.machine["wallet_id"], 3 * 100_100)
    landed = [await business.cash_out() for _ in range(3)]
    # Made at 1000, 3000 and 2000 s: the first, the third, then the second.
    for settlement, made_at in zip(landed, (1000, 3000, 2000), strict=True):
        await db.execute(
            "UPDATE satmachineadmin.payout_legs SET created_at = :at "
            "WHERE settlement_id = :id",
            {"at": made_at, "id": settlement["id"]},
        )
    now = int(time.time())
    due = await crud.settlements_to_process(now=now, stale_before=now - 60)
    ours = [sid for sid in due if sid in {s["id"] for s in landed}]
    assert ours == [landed[0]["id"], landed[2]["id"], landed[1]["id"]]

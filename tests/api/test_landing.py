"""Landing payments made outside this extension's RPC (contract §8), and replays."""

from __future__ import annotations

import time
import uuid

import pytest
from in_process_rpc import pay_from_customer
from payout_business import Business

from helpers import API, fund
from satmachineadmin import crud, tasks
from satmachineadmin.services import foreign_payments as transactions


def metadata(kind: str, tx_id: str, **overrides) -> dict:
    # 500.00 GTQ at 500000.00 GTQ/BTC is exactly 100_000 sats.
    return {
        "source": "bitspire",
        "type": kind,
        "tx_id": tx_id,
        "principal_sats": 100_000,
        "fee_sats": 1_000,
        "fiat_amount": "500.00",
        "fiat_code": "GTQ",
        "exchange_rate": "500000.00",
        **overrides,
    }


async def settlements(client, operator, tx_id: str) -> list[dict]:
    page = await client.get(f"{API}/settlements?limit=500", headers=operator.headers)
    return [s for s in page.json()["data"] if s["tx_id"] == tx_id]


@pytest.mark.slow
async def test_a_foreign_cash_out_lands_once_however_often_it_is_seen(
    client, super_user, make_user, super_config
):
    from lnbits.core.crud import get_standalone_payment
    from lnbits.core.services import create_invoice

    business = await Business(client, super_user, make_user, super_config).build()
    tx_id = uuid.uuid4().hex
    invoice = await create_invoice(
        wallet_id=business.machine["wallet_id"],
        amount=101_000,
        memo="cash-out by another LNbits",
        extra=metadata("cash_out", tx_id),
    )
    await pay_from_customer(make_user, invoice.bolt11)
    payment = await get_standalone_payment(invoice.payment_hash, incoming=True)
    assert payment is not None
    for _ in range(3):  # the listener, then replays of the same payment
        await tasks.on_invoice_paid(payment)
        await transactions.land_bitspire_payment(payment)
    landed = await settlements(client, business.operator, tx_id)
    assert len(landed) == 1
    detail = (
        await client.get(
            f"{API}/settlements/{landed[0]['id']}", headers=business.operator.headers
        )
    ).json()
    assert detail["source"] == "payment"
    assert detail["payment_hash"] == invoice.payment_hash
    assert (detail["principal_sats"], detail["commission_sats"]) == (100_000, 1_000)
    assert detail["platform_fee_sats"] == 300
    assert len({(leg["kind"], leg["label"]) for leg in detail["legs"]}) == len(
        detail["legs"]
    )


@pytest.mark.slow
async def test_a_foreign_cash_in_is_found_among_outgoing_payments(
    client, super_user, make_user, super_config, monkeypatch
):
    from lnbits.core.services import create_invoice, pay_invoice

    business = await Business(client, super_user, make_user, super_config).build()
    await fund(business.machine["wallet_id"], 200_000)
    customer = await make_user("cust")
    invoice = await create_invoice(
        wallet_id=customer.wallet_id, amount=99_000, memo="cash"
    )
    tx_id = uuid.uuid4().hex
    paid = await pay_invoice(
        wallet_id=business.machine["wallet_id"],
        payment_request=invoice.bolt11,
        extra=metadata("cash_in", tx_id),
    )
    since = int(time.time()) - 60
    for _ in range(2):  # the instance's outgoing payments, in one query
        await transactions.land_outgoing_bitspire_payments(since=since)
    landed = await settlements(client, business.operator, tx_id)
    assert len(landed) == 1
    assert landed[0]["direction"] == "cash_in"
    assert landed[0]["commission_sats"] == 1_000
    # A scan that finds more of them than it reads at once reads the machine
    # wallets one by one: it finds the payment there too, and does not land it again.
    seen: list[str] = []
    land = transactions.land_bitspire_payment

    async def spying(payment):
        seen.append(payment.payment_hash)
        return await land(payment)

    monkeypatch.setattr(transactions, "AT_ONCE", 0)
    monkeypatch.setattr(transactions, "land_bitspire_payment", spying)
    await transactions.land_outgoing_bitspire_payments(since=since)
    assert paid.payment_hash in seen
    # A whole day's scan reads wallet by wallet straight away.
    monkeypatch.setattr(transactions, "AT_ONCE", 10_000)
    read_by: list[str | None] = []
    get_payments = transactions.get_payments

    async def reading(**kwargs):
        read_by.append(kwargs.get("wallet_id"))
        return await get_payments(**kwargs)

    monkeypatch.setattr(transactions, "get_payments", reading)
    seen.clear()
    await transactions.land_outgoing_bitspire_payments(since=since - 86_400)
    assert None not in read_by
    assert business.machine["wallet_id"] in read_by
    assert paid.payment_hash in seen
    assert len(await settlements(client, business.operator, tx_id)) == 1


@pytest.mark.slow
async def test_unusable_metadata_lands_nothing(
    client, super_user, make_user, super_config
):
    from lnbits.core.crud import get_standalone_payment
    from lnbits.core.services import create_invoice

    business = await Business(client, super_user, make_user, super_config).build()
    for bad in (
        {"principal_sats": "100000"},
        {"fee_sats": -1},
        {"fiat_code": "USD"},
        {"fiat_amount": "five hundred"},
        {"principal_sats": 99_000},  # does not add up to the amount paid
    ):
        tx_id = uuid.uuid4().hex
        invoice = await create_invoice(
            wallet_id=business.machine["wallet_id"],
            amount=101_000,
            memo="odd",
            extra=metadata("cash_out", tx_id, **bad),
        )
        await pay_from_customer(make_user, invoice.bolt11)
        payment = await get_standalone_payment(invoice.payment_hash, incoming=True)
        assert payment is not None
        assert await transactions.land_bitspire_payment(payment) is False, bad
        assert await settlements(client, business.operator, tx_id) == [], bad


async def test_a_cash_out_lands_only_for_what_the_customer_paid(
    client, super_user, make_user, super_config
):
    """Landing compares principal + fee with the invoice the customer paid: a
    transaction whose amounts do not add up to it lands nothing."""
    from satmachineadmin.errors import InvalidInput
    from satmachineadmin.models import AtmTransactionRow
    from satmachineadmin.services import atm_transactions

    business = await Business(client, super_user, make_user, super_config).build()
    tx_id = uuid.uuid4().hex
    tx = {
        "id": uuid.uuid4().hex,
        "operator_id": business.operator.id,
        "machine_id": business.machine["id"],
        "tx_id": tx_id,
        "payment_hash": None,
        "principal_sats": 100_000,
        "fee_sats": 1_000,
        "amount_sats": 100_500,  # the invoice paid: 500 sats short
        "fiat_amount_minor": 50_000,
        "fiat_code": "GTQ",
        "exchange_rate": "500000.00",
    }
    row = AtmTransactionRow.construct(**tx)
    machine = await crud.get_machine(machine_id=business.machine["id"])
    assert machine is not None
    with pytest.raises(InvalidInput, match="paid 100500 sats"):
        await atm_transactions.land_cash_out(row, machine, dispensed_minor=25_000)
    with pytest.raises(InvalidInput, match="paid 100500 sats"):
        await atm_transactions.land_cash_out(row, machine, dispensed_minor=50_000)
    assert await settlements(client, business.operator, tx_id) == []


def test_metadata_amounts_are_compared_to_the_msat():
    """A payment a fraction of a sat off principal ± fee does not land."""
    from types import SimpleNamespace

    from satmachineadmin.models import MachineRow

    machine = MachineRow.construct(id="m", operator_id="o", fiat_code="GTQ")
    extra = metadata("cash_out", "tx-msat")

    def payment(amount_msat: int):
        return SimpleNamespace(amount=amount_msat, payment_hash="00" * 32)

    exact = transactions._settlement_from_metadata(payment(101_000_000), machine, extra)
    assert exact.principal_sats == 100_000 and exact.fee_sats == 1_000
    for off in (101_000_500, 101_000_999, 100_999_001):
        try:
            transactions._settlement_from_metadata(payment(off), machine, extra)
        except ValueError as exc:
            assert "principal_sats + fee_sats" in str(exc)
        else:
            raise AssertionError(f"{off} msat landed")

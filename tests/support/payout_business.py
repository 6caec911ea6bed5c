"""An operator's business for the payout tests: a machine, a three-way split and
two funded LPs, on a platform that charges 30 % of the commission; and waiting for
a settlement's legs to be paid."""

from __future__ import annotations

import asyncio
import time
import uuid

from helpers import API, add_machine, balance, enrol_lp
from satmachineadmin.services import payouts


async def wait_for_status(client, operator, settlement_id, wanted, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        await payouts.process_due()
        response = await client.get(
            f"{API}/settlements/{settlement_id}", headers=operator.headers
        )
        body = response.json()
        if body["status"] == wanted or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.1)


class Business:
    """An operator with a machine, three split wallets and two funded LPs."""

    def __init__(self, client, super_user, make_user, super_config):
        self.client, self.super_user, self.make_user = client, super_user, make_user
        self.super_config = super_config

    async def build(self) -> Business:
        client = self.client
        response = await self.super_config.put(
            {
                "cash_out_fee_bps": 3000,
                "cash_in_fee_bps": 3000,
                "fee_basis": "commission",
                "super_wallet_id": self.super_user.wallet_id,
            }
        )
        assert response.status_code == 200, response.text
        self.operator = op = await self.make_user("op")
        self.self_wallet = op.wallet_id
        self.employee = await self.make_user("emp")
        self.maintenance = await self.make_user("mnt")
        rules = [
            {"label": "self", "wallet_id": op.wallet_id, "weight_bps": 5000},
            {
                "label": "employee",
                "wallet_id": self.employee.wallet_id,
                "weight_bps": 3000,
            },
            {
                "label": "maintenance",
                "wallet_id": self.maintenance.wallet_id,
                "weight_bps": 2000,
            },
        ]
        response = await client.put(
            f"{API}/splits", json={"rules": rules}, headers=op.headers
        )
        assert response.status_code == 200, response.text
        self.machine = await add_machine(client, op, name="Pay ATM", fiat_code="GTQ")
        self.lps = [await self.make_user("lp"), await self.make_user("lp")]
        for lp, amount in zip(self.lps, ("600.00", "400.00"), strict=True):
            enrolment = await enrol_lp(client, op, lp)
            deposit = await client.post(
                f"{API}/lps/{enrolment['id']}/deposits",
                json={"fiat_amount": amount},
                headers=op.headers,
            )
            await client.put(
                f"{API}/deposits/{deposit.json()['id']}/confirm", headers=op.headers
            )
        return self

    async def cash_out(self, *, tx_id=None, fee_sats=100, principal=100_000) -> dict:
        # 500.00 GTQ at 500000.00 GTQ/BTC is exactly 100_000 sats.
        response = await self.client.post(
            f"{API}/settlements/manual",
            json={
                "machine_id": self.machine["id"],
                "direction": "cash_out",
                "principal_sats": principal,
                "fee_sats": fee_sats,
                "fee_override_reason": "commission agreed with the customer",
                "fiat_amount": f"{principal * 5 // 1000}.00",
                "fiat_code": "GTQ",
                "exchange_rate": "500000.00",
                "tx_id": tx_id or uuid.uuid4().hex,
            },
            headers=self.operator.headers,
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    def wallets(self) -> list[str]:
        return [
            self.super_user.wallet_id,
            self.self_wallet,
            self.employee.wallet_id,
            self.maintenance.wallet_id,
            *(lp.wallet_id for lp in self.lps),
            self.machine["wallet_id"],
        ]

    async def balances(self) -> dict[str, int]:
        return {wallet: await balance(wallet) for wallet in self.wallets()}

"""The newcomer's walk from the README, through the API."""

from helpers import API, add_machine


async def test_super_operator_flow(client, super_user, make_user, super_config):
    fee = await super_config.put(
        {"cash_out_fee_bps": 3000, "super_wallet_id": super_user.wallet_id}
    )
    assert fee.status_code == 200, fee.text
    assert fee.json()["cash_out_fee_bps"] == 3000

    operator = await make_user("op")
    employee = await make_user("emp")
    from satmachineadmin.nostr.keys import KeyPair

    keys = KeyPair.generate()
    pubkey, npub = keys.public_key_hex, keys.npub
    machine = await add_machine(
        client, operator, keys=keys, name="Lobby ATM", fiat_code="GTQ"
    )
    assert machine["pubkey"] == pubkey and machine["npub"] == npub

    wallets = (await client.get("/api/v1/wallets", headers=operator.headers)).json()
    assert machine["wallet_id"] in {w["id"] for w in wallets}

    splits = await client.put(
        f"{API}/splits",
        json={
            "rules": [
                {"label": "self", "wallet_id": operator.wallet_id, "weight_bps": 5000},
                {
                    "label": "employee",
                    "wallet_id": employee.wallet_id,
                    "weight_bps": 3000,
                },
                {
                    "label": "maintenance",
                    "ln_address": "fix@example.com",
                    "weight_bps": 2000,
                },
            ]
        },
        headers=operator.headers,
    )
    assert splits.status_code == 200, splits.text

    preview = await client.post(
        f"{API}/splits/preview",
        json={"commission_sats": 100, "direction": "cash_out"},
        headers=operator.headers,
    )
    assert preview.status_code == 200, preview.text
    body = preview.json()
    assert body["platform_fee_sats"] == 30
    assert body["operator_fee_sats"] == 70
    assert [leg["sats"] for leg in body["legs"]] == [30, 35, 21, 14]

    # The operator's schedule makes the commission: a fixed 100 sats.
    fixed = {"commission_bps": 0, "fixed_fee_sats": 100}
    schedule = await client.put(
        f"{API}/fees",
        json={"cash_out": fixed, "cash_in": fixed},
        headers=operator.headers,
    )
    assert schedule.status_code == 200, schedule.text
    manual = await client.post(
        f"{API}/settlements/manual",
        json={
            "machine_id": machine["id"],
            "direction": "cash_out",
            "principal_sats": 300_000,
            "fiat_amount": "2000.00",
            "fiat_code": "GTQ",
            "exchange_rate": "666666.67",
            "tx_id": "tx-1",
        },
        headers=operator.headers,
    )
    assert manual.status_code == 201, manual.text
    settlement = manual.json()
    detail = await client.get(
        f"{API}/settlements/{settlement['id']}", headers=operator.headers
    )
    assert detail.status_code == 200
    legs = detail.json()["legs"]
    assert [(leg["kind"], leg["sats"]) for leg in legs] == [
        ("platform_fee", 30),
        ("operator_split", 35),
        ("operator_split", 21),
        ("operator_split", 14),
    ]
    assert detail.json()["unallocated_sats"] == 300_000

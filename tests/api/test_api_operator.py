"""The operator's API: machines, splits, manual settlements, LPs, exports.

LNbits answers request-validation errors with 400 (not FastAPI's 422).

Each test makes its own operator so that tests do not see each other's objects;
the platform fee is global, so tests that depend on it set it first.
"""

import csv
import io
from datetime import datetime, timezone

import pytest

from helpers import API, enrol_lp, fund, lp_code, machine_key
from helpers import add_machine as confirmed_machine
from helpers import cash_out_body as cash_out


@pytest.fixture
async def fee_30(super_user, super_config):
    response = await super_config.put(
        {
            "cash_out_fee_bps": 3000,
            "cash_in_fee_bps": 1000,
            "fee_basis": "commission",
            "super_wallet_id": super_user.wallet_id,
        }
    )
    assert response.status_code == 200, response.text


async def add_machine(client, operator, fiat_code="GTQ", **extra):
    return await confirmed_machine(client, operator, fiat_code=fiat_code, **extra)


def detail(response) -> str:
    return str(response.json()["detail"])


# --- super config ----------------------------------------------------------------


async def test_platform_fee_needs_a_wallet_and_valid_bps(super_user, super_config):
    clear = await super_config.put(
        {"cash_in_fee_bps": 0, "cash_out_fee_bps": 0, "super_wallet_id": None}
    )
    assert clear.status_code == 200, clear.text
    no_wallet = await super_config.put({"cash_out_fee_bps": 100})
    assert no_wallet.status_code == 400
    # In the super user's words, not the field's name.
    assert "the wallet the platform fee is paid into" in detail(no_wallet)
    assert "super_wallet_id" not in detail(no_wallet)

    too_big = await super_config.put(
        {"cash_out_fee_bps": 10_001, "super_wallet_id": super_user.wallet_id}
    )
    assert too_big.status_code == 400

    unknown = await super_config.put({"super_wallet_id": "f" * 32})
    assert unknown.status_code == 400
    assert "no LNbits wallet" in detail(unknown)

    bad_relay = await super_config.put({"relays": ["http://relay.example"]})
    assert bad_relay.status_code == 400

    per_direction = await super_config.put(
        {
            "cash_out_fee_bps": 50,
            "cash_out_fee_basis": "principal",
            "super_wallet_id": super_user.wallet_id,
        }
    )
    assert per_direction.status_code == 200, per_direction.text
    body = per_direction.json()
    assert body["cash_out_fee_basis"] == "principal"
    assert body["cash_in_fee_basis"] == "commission"
    assert body["fee_basis"] is None
    assert body["server_npub"].startswith("npub1")
    assert "server_private_key" not in body


async def test_preview_on_principal_basis(client, super_user, make_user, super_config):
    response = await super_config.put(
        {
            "cash_out_fee_bps": 50,
            "cash_out_fee_basis": "principal",
            "super_wallet_id": super_user.wallet_id,
        }
    )
    assert response.status_code == 200, response.text
    operator = await make_user("op")
    missing = await client.post(
        f"{API}/splits/preview",
        json={"commission_sats": 1000, "direction": "cash_out"},
        headers=operator.headers,
    )
    assert missing.status_code == 400
    assert "principal_sats" in detail(missing)
    # 0.5 % of 100_000 is 500, under the 1000 commission.
    preview = await client.post(
        f"{API}/splits/preview",
        json={"commission_sats": 1000, "principal_sats": 100_000},
        headers=operator.headers,
    )
    assert preview.status_code == 200, preview.text
    assert preview.json()["platform_fee_sats"] == 500
    # Capped at the commission.
    capped = await client.post(
        f"{API}/splits/preview",
        json={"commission_sats": 100, "principal_sats": 100_000},
        headers=operator.headers,
    )
    assert capped.json()["platform_fee_sats"] == 100
    assert capped.json()["operator_fee_sats"] == 0


# --- machines ----------------------------------------------------------------------


async def test_machine_lifecycle(client, make_user, fee_30):
    from satmachineadmin.nostr.keys import KeyPair

    operator = await make_user("op")
    keys = KeyPair.generate()
    pubkey, npub = keys.public_key_hex, keys.npub
    machine = await confirmed_machine(
        client,
        operator,
        keys=keys,
        npub=pubkey.upper(),
        name="  Mall  ",
        location="Zone 10",
    )
    assert machine["pubkey"] == pubkey
    assert machine["npub"] == npub
    assert machine["name"] == "Mall"
    assert machine["fiat_code"] is None
    assert machine["status"] == "active"

    wallets = (await client.get("/api/v1/wallets", headers=operator.headers)).json()
    wallet = next(w for w in wallets if w["id"] == machine["wallet_id"])
    assert "Mall" in wallet["name"] and npub in wallet["name"]
    listed = (await client.get(f"{API}/machines", headers=operator.headers)).json()
    assert [(m["id"], m["balance_sats"]) for m in listed] == [(machine["id"], 0)]
    await fund(machine["wallet_id"], 1234)
    shown = await client.get(
        f"{API}/machines/{machine['id']}", headers=operator.headers
    )
    assert shown.json()["balance_sats"] == 1234

    renamed = await client.patch(
        f"{API}/machines/{machine['id']}",
        json={"name": "Mall north", "status": "disabled"},
        headers=operator.headers,
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "Mall north"
    assert renamed.json()["status"] == "disabled"
    bad_status = await client.patch(
        f"{API}/machines/{machine['id']}",
        json={"status": "exploded"},
        headers=operator.headers,
    )
    assert bad_status.status_code == 400

    # No fiat code yet: the first transaction's code is adopted.
    settled = await client.post(
        f"{API}/settlements/manual",
        json=cash_out(machine["id"]),
        headers=operator.headers,
    )
    assert settled.status_code == 201, settled.text
    fetched = await client.get(
        f"{API}/machines/{machine['id']}", headers=operator.headers
    )
    assert fetched.json()["fiat_code"] == "GTQ"

    change_fiat = await client.patch(
        f"{API}/machines/{machine['id']}",
        json={"fiat_code": "USD"},
        headers=operator.headers,
    )
    assert change_fiat.status_code == 409
    refused = await client.delete(
        f"{API}/machines/{machine['id']}", headers=operator.headers
    )
    assert refused.status_code == 409
    assert "disable" in detail(refused)

    spare = await add_machine(client, operator)
    deleted = await client.delete(
        f"{API}/machines/{spare['id']}", headers=operator.headers
    )
    assert deleted.status_code == 200, deleted.text
    gone = await client.get(f"{API}/machines/{spare['id']}", headers=operator.headers)
    assert gone.status_code == 404
    listed = (await client.get(f"{API}/machines", headers=operator.headers)).json()
    assert [m["id"] for m in listed] == [machine["id"]]


async def test_machine_input_errors(client, make_user):
    operator = await make_user("op")
    for npub, why in (
        ("npub1notakey", "npub"),
        ("ab" * 31, "hex"),
        ("", "npub"),
    ):
        response = await client.post(
            f"{API}/machines",
            json={"npub": npub, "name": "x", "fiat_code": "GTQ"},
            headers=operator.headers,
        )
        assert response.status_code == 400, (why, response.text)
        assert "not a valid npub" in response.text
    _, npub = machine_key()
    unknown_fiat = await client.post(
        f"{API}/machines",
        json={"npub": npub, "name": "x", "fiat_code": "XYZ"},
        headers=operator.headers,
    )
    assert unknown_fiat.status_code == 400
    assert "unknown fiat currency" in unknown_fiat.text
    platform = await client.get(f"{API}/platform-fee", headers=operator.headers)
    server = await client.post(
        f"{API}/machines",
        json={"npub": platform.json()["server_npub"], "name": "x"},
        headers=operator.headers,
    )
    assert server.status_code == 400


async def test_a_machine_belongs_to_one_operator(client, make_user):
    """Adding another operator's machine by its (public) npub captures nothing,
    and the answer is the one a free key gets."""
    from helpers import machine_confirms, pairing_token
    from satmachineadmin.nostr.keys import KeyPair

    first, second = await make_user("op"), await make_user("op")
    machine = await add_machine(client, first)
    wallets_before = await client.get("/api/v1/wallets", headers=second.headers)
    taken = await client.post(
        f"{API}/machines",
        json={"npub": machine["npub"], "name": "stolen"},
        headers=second.headers,
    )
    free = await client.post(
        f"{API}/machines",
        json={"npub": KeyPair.generate().npub, "name": "stolen"},
        headers=second.headers,
    )
    assert taken.status_code == free.status_code == 201, (taken.text, free.text)
    assert set(taken.json()) == set(free.json())
    assert taken.json()["status"] == free.json()["status"] == "waiting"
    for answer in (taken, free):
        assert first.id not in answer.text and first.username not in answer.text
        assert machine["id"] not in answer.text
    # Nothing is bound and no wallet is made until the machine confirms.
    assert (await client.get(f"{API}/machines", headers=second.headers)).json() == []
    wallets_after = await client.get("/api/v1/wallets", headers=second.headers)
    assert len(wallets_after.json()) == len(wallets_before.json())
    # The machine key keeps working for its operator only; another key cannot
    # use the token made for this one.
    intruder = await machine_confirms(
        KeyPair.generate(), pairing_token(taken.json()["seed_url"])
    )
    assert intruder["error"]["code"] == "not_found", intruder
    shown = await client.get(f"{API}/machines/{machine['id']}", headers=first.headers)
    assert shown.json()["operator_id"] == first.id
    # The operator who holds it is told so; that says nothing about others.
    again = await client.post(
        f"{API}/machines",
        json={"npub": machine["npub"], "name": "twin"},
        headers=first.headers,
    )
    assert again.status_code == 409
    assert "already one of yours" in detail(again)


# --- splits ------------------------------------------------------------------------


async def test_split_rules_are_validated(client, make_user):
    operator = await make_user("op")
    cases = [
        (
            [{"label": "a", "wallet_id": operator.wallet_id, "weight_bps": 6000}],
            400,
            "sum to 10000",
        ),
        (
            [
                {"label": "a", "wallet_id": operator.wallet_id, "weight_bps": 5000},
                {"label": "b", "wallet_id": operator.wallet_id, "weight_bps": 5000},
            ],
            400,
            "same target",
        ),
        (
            [{"label": "a", "wallet_id": "0" * 32, "weight_bps": 10000}],
            400,
            "no LNbits wallet",
        ),
        (
            [{"label": "a", "ln_address": "not an address", "weight_bps": 10000}],
            400,
            "Lightning address",
        ),
        (
            [
                {
                    "label": "a",
                    "wallet_id": operator.wallet_id,
                    "ln_address": "a@b.co",
                    "weight_bps": 10000,
                }
            ],
            400,
            "exactly one",
        ),
        ([{"label": "a", "wallet_id": operator.wallet_id, "weight_bps": 0}], 400, ""),
        (
            [{"label": "a", "wallet_id": operator.wallet_id, "weight_bps": 1e4}],
            400,
            "",
        ),
    ]
    for rules, status, message in cases:
        response = await client.put(
            f"{API}/splits", json={"rules": rules}, headers=operator.headers
        )
        assert response.status_code == status, (rules, response.text)
        assert message in response.text
    saved = await client.get(f"{API}/splits", headers=operator.headers)
    assert saved.json() == {"rules": []}


async def test_no_rules_keeps_the_operator_fee_in_the_machine_wallet(
    client, make_user, fee_30
):
    operator = await make_user("op")
    machine = await add_machine(client, operator)
    landed = await client.post(
        f"{API}/settlements/manual",
        json=cash_out(machine["id"], fee_sats=1001),
        headers=operator.headers,
    )
    assert landed.status_code == 201, landed.text
    legs = landed.json()["legs"]
    assert [(leg["kind"], leg["sats"]) for leg in legs] == [
        ("platform_fee", 300),
        ("operator_split", 701),
    ]
    # Nothing moves for the operator's share: it is already in the machine wallet.
    assert legs[1]["status"] == "retained"
    assert legs[0]["status"] != "retained"
    assert legs[1]["wallet_id"] == machine["wallet_id"]


# --- manual settlements --------------------------------------------------------------


async def test_manual_settlement_is_idempotent_by_tx_id(client, make_user, fee_30):
    operator = await make_user("op")
    machine = await add_machine(client, operator)
    body = cash_out(machine["id"], tx_id="atm-tx-42")
    first = await client.post(
        f"{API}/settlements/manual", json=body, headers=operator.headers
    )
    again = await client.post(
        f"{API}/settlements/manual", json=body, headers=operator.headers
    )
    assert first.status_code == 201, first.text
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    changed = await client.post(
        f"{API}/settlements/manual",
        json={**body, "fee_sats": 10_001},
        headers=operator.headers,
    )
    assert changed.status_code == 409
    assert "atm-tx-42" in detail(changed)
    page = await client.get(f"{API}/settlements", headers=operator.headers)
    assert page.json()["total"] == 1
    assert len(first.json()["legs"]) == 2  # platform fee + retained operator share


@pytest.mark.slow
async def test_manual_settlement_input_errors(client, make_user, fee_30):
    operator, other = await make_user("op"), await make_user("op")
    machine = await add_machine(client, operator)
    foreign = await add_machine(client, other)
    cases = [
        (cash_out(foreign["id"]), 404, "no machine"),
        (cash_out("nope"), 404, "no machine"),
        (cash_out(machine["id"], fiat_code="USD"), 400, "fiat code mismatch"),
        (cash_out(machine["id"], principal_sats=300_000), 400, "inconsistent amounts"),
        (cash_out(machine["id"], principal_sats=-1), 400, ""),
        (cash_out(machine["id"], principal_sats=1.5), 400, ""),
        (cash_out(machine["id"], principal_sats="200000"), 400, ""),
        (cash_out(machine["id"], principal_sats=10**16), 400, ""),
        (cash_out(machine["id"], fiat_amount="1000.001"), 400, "more decimals"),
        (cash_out(machine["id"], fiat_amount=1000.0), 400, "decimal string"),
        (cash_out(machine["id"], fiat_amount="ten"), 400, "not a decimal"),
        (cash_out(machine["id"], exchange_rate="0"), 400, "greater than zero"),
        (cash_out(machine["id"], exchange_rate="NaN"), 400, "finite"),
        (cash_out(machine["id"], direction="sideways"), 400, ""),
        (cash_out(machine["id"], surprise=1), 400, ""),
        (
            cash_out(
                machine["id"],
                direction="cash_in",
                principal_sats=200_000,
                fee_sats=200_001,
            ),
            400,
            "fee",
        ),
    ]
    for body, status, message in cases:
        response = await client.post(
            f"{API}/settlements/manual", json=body, headers=operator.headers
        )
        assert response.status_code == status, (body, response.text)
        assert message in response.text, (body, response.text)
    page = await client.get(f"{API}/settlements", headers=operator.headers)
    assert page.json()["total"] == 0


async def test_cash_in_settlement_has_fee_legs_only(client, make_user, fee_30):
    operator = await make_user("op")
    await client.put(
        f"{API}/splits",
        json={
            "rules": [
                {"label": "me", "wallet_id": operator.wallet_id, "weight_bps": 10000}
            ]
        },
        headers=operator.headers,
    )
    machine = await add_machine(client, operator)
    landed = await client.post(
        f"{API}/settlements/manual",
        json=cash_out(machine["id"], direction="cash_in", fee_sats=4_000),
        headers=operator.headers,
    )
    assert landed.status_code == 201, landed.text
    body = landed.json()
    assert body["gross_sats"] == 200_000
    assert body["platform_fee_sats"] == 400  # cash-in fee is 10 %
    assert body["operator_fee_sats"] == 3_600
    assert [leg["kind"] for leg in body["legs"]] == ["platform_fee", "operator_split"]
    assert body["lp_allocated_sats"] == 0 and body["unallocated_sats"] == 0


# --- liquidity providers --------------------------------------------------------------


async def enrol(client, operator, lp, fiat_code="GTQ"):
    return await enrol_lp(client, operator, lp, fiat_code)


async def deposit(client, operator, enrolment, amount, confirm=True):
    response = await client.post(
        f"{API}/lps/{enrolment['id']}/deposits",
        json={"fiat_amount": amount},
        headers=operator.headers,
    )
    assert response.status_code == 201, response.text
    if confirm:
        confirmed = await client.put(
            f"{API}/deposits/{response.json()['id']}/confirm", headers=operator.headers
        )
        assert confirmed.status_code == 200, confirmed.text
        assert confirmed.json()["status"] == "confirmed"
    return response.json()


@pytest.mark.slow
async def test_lp_distribution_follows_remaining_balances(client, make_user, fee_30):
    operator = await make_user("op")
    alice, bob = await make_user("lp"), await make_user("lp")
    machine = await add_machine(client, operator)
    a, b = await enrol(client, operator, alice), await enrol(client, operator, bob)
    await deposit(client, operator, a, "600.00")
    await deposit(client, operator, b, "400.00")
    await deposit(client, operator, b, "5000.00", confirm=False)  # not yet counted

    # 500.00 GTQ out of 1000.00 of balances: 300.00 / 200.00.
    first = await client.post(
        f"{API}/settlements/manual",
        json=cash_out(
            machine["id"], principal_sats=100_000, fiat_amount="500.00", fee_sats=0
        ),
        headers=operator.headers,
    )
    assert first.status_code == 201, first.text
    lp_legs = [leg for leg in first.json()["legs"] if leg["kind"] == "lp_distribution"]
    # Paid to the LPs' wallets, shown by enrolment: their wallet ids are theirs.
    assert sorted(
        (leg["lp_enrolment_id"], leg["fiat_amount"], leg["sats"]) for leg in lp_legs
    ) == sorted([(a["id"], "300.00", 60_000), (b["id"], "200.00", 40_000)])
    assert {leg["wallet_id"] for leg in lp_legs} == {None}
    assert alice.wallet_id not in first.text and bob.wallet_id not in first.text
    assert first.json()["lp_allocated_sats"] == 100_000
    assert first.json()["unallocated_sats"] == 0

    lps = {
        e["id"]: e
        for e in (await client.get(f"{API}/lps", headers=operator.headers)).json()
    }
    assert lps[a["id"]]["balance"] == "300.00"
    assert lps[b["id"]]["balance"] == "200.00"
    assert lps[b["id"]]["pending_deposits"] == "5000.00"

    # 1000.00 GTQ against 500.00 of balances: half the principal stays unallocated.
    second = await client.post(
        f"{API}/settlements/manual",
        json=cash_out(machine["id"], principal_sats=200_000, fee_sats=0),
        headers=operator.headers,
    )
    assert second.status_code == 201, second.text
    assert second.json()["lp_allocated_sats"] == 100_000
    assert second.json()["unallocated_sats"] == 100_000
    lps = {
        e["id"]: e
        for e in (await client.get(f"{API}/lps", headers=operator.headers)).json()
    }
    assert lps[a["id"]]["balance"] == "0.00"
    assert lps[b["id"]]["balance"] == "0.00"

    mine = await client.get(f"{API}/lp/me", headers=alice.headers)
    assert mine.status_code == 200
    balance = mine.json()["balances"][0]
    assert (balance["deposited"], balance["distributed"], balance["balance"]) == (
        "600.00",
        "600.00",
        "0.00",
    )
    assert balance["distributed_sats"] == 120_000
    history = await client.get(f"{API}/lp/distributions", headers=alice.headers)
    assert sorted(d["fiat_amount"] for d in history.json()) == ["300.00", "300.00"]


async def test_lp_enrolment_and_deposit_errors(client, make_user):
    operator, lp = await make_user("op"), await make_user("lp")
    enrolment = await enrol(client, operator, lp)
    again = await client.post(
        f"{API}/lps",
        json={"code": await lp_code(client, lp), "fiat_code": "GTQ"},
        headers=operator.headers,
    )
    assert again.status_code == 409
    other_currency = await client.post(
        f"{API}/lps",
        json={"code": await lp_code(client, lp), "fiat_code": "USD"},
        headers=operator.headers,
    )
    assert other_currency.status_code == 201
    unknown = await client.post(
        f"{API}/lps",
        json={"code": "ABCD-EFGH-JKMN", "fiat_code": "GTQ"},
        headers=operator.headers,
    )
    assert unknown.status_code == 400
    both = await client.post(
        f"{API}/lps",
        json={"code": await lp_code(client, lp), "user_id": lp.id, "fiat_code": "GTQ"},
        headers=operator.headers,
    )
    assert both.status_code == 400
    for amount, status in (("0", 400), ("-5", 400), ("1.001", 400), (12, 400)):
        response = await client.post(
            f"{API}/lps/{enrolment['id']}/deposits",
            json={"fiat_amount": amount},
            headers=operator.headers,
        )
        assert response.status_code == status, (amount, response.text)
    missing = await client.put(f"{API}/deposits/nope/confirm", headers=operator.headers)
    assert missing.status_code == 404
    made = await deposit(client, operator, enrolment, "10.00")
    twice = await client.put(
        f"{API}/deposits/{made['id']}/confirm", headers=operator.headers
    )
    assert twice.status_code == 200
    listed = await client.get(
        f"{API}/deposits?status=confirmed", headers=operator.headers
    )
    assert [d["id"] for d in listed.json()] == [made["id"]]
    lps = (await client.get(f"{API}/lps", headers=operator.headers)).json()
    gtq = next(e for e in lps if e["fiat_code"] == "GTQ")
    assert gtq["balance"] == "10.00"  # confirming twice counts once


# --- listing and export ---------------------------------------------------------------


async def test_settlement_filters_pagination_and_csv(client, make_user, fee_30):
    operator = await make_user("op")
    one, two = await add_machine(client, operator), await add_machine(client, operator)
    for index in range(3):
        response = await client.post(
            f"{API}/settlements/manual",
            json=cash_out(one["id"], tx_id=f"one-{index}", note="=HYPERLINK(1)"),
            headers=operator.headers,
        )
        assert response.status_code == 201
    response = await client.post(
        f"{API}/settlements/manual",
        json=cash_out(two["id"], direction="cash_in"),
        headers=operator.headers,
    )
    assert response.status_code == 201

    page = await client.get(
        f"{API}/settlements?limit=2&offset=0", headers=operator.headers
    )
    assert page.json()["total"] == 4 and len(page.json()["data"]) == 2
    first = page.json()["data"][0]
    detail = await client.get(
        f"{API}/settlements/{first['id']}", headers=operator.headers
    )
    # The payouts go on between the two reads: how far they got may differ.
    progress = ("status", "legs_done", "legs_failed", "failure")

    def settled_facts(settlement: dict) -> dict:
        return {k: v for k, v in settlement.items() if k not in progress}

    assert settled_facts(first) == settled_facts({**detail.json(), "legs": None})
    assert page.headers["content-type"] == "application/json"
    rest = await client.get(
        f"{API}/settlements?limit=2&offset=2", headers=operator.headers
    )
    ids = {s["id"] for s in page.json()["data"]} | {
        s["id"] for s in rest.json()["data"]
    }
    assert len(ids) == 4
    by_machine = await client.get(
        f"{API}/settlements?machine_id={one['id']}", headers=operator.headers
    )
    assert by_machine.json()["total"] == 3
    cash_ins = await client.get(
        f"{API}/settlements?direction=cash_in", headers=operator.headers
    )
    assert cash_ins.json()["total"] == 1
    future = await client.get(
        f"{API}/settlements?since=2999-01-01", headers=operator.headers
    )
    assert future.json()["total"] == 0
    today = await client.get(
        f"{API}/settlements?since=2000-01-01&until=2999-01-01", headers=operator.headers
    )
    assert today.json()["total"] == 4
    bad_date = await client.get(
        f"{API}/settlements?since=yesterday", headers=operator.headers
    )
    assert bad_date.status_code == 400
    too_many = await client.get(
        f"{API}/settlements?limit=100000", headers=operator.headers
    )
    assert too_many.status_code == 400

    exported = await client.get(
        f"{API}/settlements.csv?machine_id={one['id']}", headers=operator.headers
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 3
    assert {row["tx_id"] for row in rows} == {"one-0", "one-1", "one-2"}
    assert all(row["fiat_amount"] == "1000.00" for row in rows)
    assert all(row["note"] == "'=HYPERLINK(1)" for row in rows)


async def test_period_totals_follow_the_filters_and_split_by_currency(
    client, make_user, fee_30
):
    operator = await make_user("op")
    gtq = await add_machine(client, operator)
    usd = await add_machine(client, operator, fiat_code="USD")
    for index in range(2):
        response = await client.post(
            f"{API}/settlements/manual",
            json=cash_out(gtq["id"], tx_id=f"gtq-{index}"),
            headers=operator.headers,
        )
        assert response.status_code == 201, response.text
    # 100.00 USD at 100000.00 USD/BTC is exactly 100_000 sats; cash-in fee 10 %.
    response = await client.post(
        f"{API}/settlements/manual",
        json=cash_out(
            usd["id"],
            direction="cash_in",
            principal_sats=100_000,
            fee_sats=5_000,
            fiat_amount="100.00",
            fiat_code="USD",
            exchange_rate="100000.00",
        ),
        headers=operator.headers,
    )
    assert response.status_code == 201, response.text

    everything = await client.get(f"{API}/settlements/totals", headers=operator.headers)
    assert everything.status_code == 200, everything.text
    totals = everything.json()
    assert totals["settlements"] == 3
    # A cash-in's gross is what the customer bought: the principal.
    assert totals["gross_sats"] == 2 * 210_000 + 100_000
    assert totals["commission_sats"] == 2 * 10_000 + 5_000
    assert totals["platform_fee_sats"] == 2 * 3_000 + 500
    assert totals["operator_fee_sats"] == 2 * 7_000 + 4_500
    assert {row["fiat_code"]: row["fiat_amount"] for row in totals["by_currency"]} == {
        "GTQ": "2000.00",
        "USD": "100.00",
    }

    cash_outs = await client.get(
        f"{API}/settlements/totals?direction=cash_out&machine_id={gtq['id']}",
        headers=operator.headers,
    )
    assert cash_outs.json()["settlements"] == 2
    assert [row["fiat_code"] for row in cash_outs.json()["by_currency"]] == ["GTQ"]
    empty = await client.get(
        f"{API}/settlements/totals?since=2999-01-01", headers=operator.headers
    )
    assert empty.json() == {
        "settlements": 0,
        "gross_sats": 0,
        "commission_sats": 0,
        "platform_fee_sats": 0,
        "operator_fee_sats": 0,
        "lp_allocated_sats": 0,
        "by_currency": [],
    }
    bad = await client.get(
        f"{API}/settlements/totals?until=tomorrow", headers=operator.headers
    )
    assert bad.status_code == 400

    daily = await client.get(f"{API}/stats/daily?days=7", headers=operator.headers)
    assert daily.status_code == 200, daily.text
    today = datetime.now(timezone.utc).date().isoformat()
    assert sorted(
        (row["day"], row["machine_id"], row["settlements"], row["commission_sats"])
        for row in daily.json()
    ) == sorted([(today, gtq["id"], 2, 20_000), (today, usd["id"], 1, 5_000)])
    for days in (0, 367):
        refused = await client.get(
            f"{API}/stats/daily?days={days}", headers=operator.headers
        )
        assert refused.status_code == 400


async def test_super_overview_totals_per_operator(
    client, super_user, make_user, fee_30
):
    operator = await make_user("op")
    machine = await add_machine(client, operator)
    for index in range(2):
        await client.post(
            f"{API}/settlements/manual",
            json=cash_out(machine["id"], tx_id=f"t{index}"),
            headers=operator.headers,
        )
    overview = await client.get(f"{API}/super/overview", headers=super_user.headers)
    assert overview.status_code == 200
    mine = next(row for row in overview.json() if row["operator_id"] == operator.id)
    assert mine == {
        "operator_id": operator.id,
        "operator": operator.username,
        "machines": 1,
        "settlements": 2,
        "gross_sats": 420_000,
        "commission_sats": 20_000,
        "platform_fee_sats": 6_000,
        "operator_fee_sats": 14_000,
    }


async def test_audit_log_records_who_did_what(client, make_user, fee_30):
    operator = await make_user("op")
    machine = await add_machine(client, operator)
    await client.post(
        f"{API}/settlements/manual",
        json=cash_out(machine["id"]),
        headers=operator.headers,
    )
    log = await client.get(f"{API}/audit", headers=operator.headers)
    actions = [entry["action"] for entry in log.json()]
    assert "machine.create" in actions and "settlement.land" in actions
    assert all(entry["actor"] == operator.id for entry in log.json())

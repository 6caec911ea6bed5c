"""Who may call what: every endpoint walked as every kind of caller.

The world: a super user who charges a platform fee; two operators, A and B, each
with a machine, a spare machine, split rules, an enrolled liquidity provider with a
confirmed and a pending deposit, and a manual cash-out settlement; the LP that A
enrolled; an anonymous caller; and a user who never enabled the extension.

Rules checked here (see ``views_api``): the super user alone reads and changes the
platform configuration; every logged-in user reads the platform fee; an operator
sees and changes only their own objects, and another operator's object is "not
found" without a trace of its data; an LP sees their own enrolments.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.routing import Route

from helpers import API, Actor, add_machine, enrol_lp, lp_code, machine_key

PAGE = "/satmachineadmin/"
SUPER_PAGE = "/satmachineadmin/super"
LP_PAGE = "/satmachineadmin/lp"
FEE_BPS = 3000

# A cash-out of 150 000 sats for 1000.00 GTQ at 666 666.67 GTQ/BTC: it uses up the
# LP's 1000.00 GTQ deposit exactly.
PRINCIPAL_SATS = 150_000
FIAT_AMOUNT = "1000.00"
RATE = "666666.67"

Body = Callable[[dict[str, str]], Any]


def _settlement_body(ids: dict[str, str]) -> dict:
    return {
        "machine_id": ids["machine_id"],
        "direction": "cash_out",
        "principal_sats": PRINCIPAL_SATS,
        "fee_sats": 100,
        "fee_override_reason": "commission agreed with the customer",
        "fiat_amount": FIAT_AMOUNT,
        "fiat_code": "GTQ",
        "exchange_rate": RATE,
        "tx_id": f"tx-{uuid.uuid4().hex[:12]}",
    }


def _hijack_fee(wallet_id: str) -> dict:
    """What a caller other than the super user would like the fee to be."""
    return {
        "cash_out_fee_bps": 0,
        "cash_in_fee_bps": 10000,
        "super_wallet_id": wallet_id,
    }


def _fee_schedule(_: dict[str, str]) -> dict:
    fees = {
        "commission_bps": 0,
        "fixed_fee_sats": 0,
        "min_fiat": None,
        "max_fiat": None,
    }
    return {"cash_out": fees, "cash_in": fees}


def _new_machine_body(_: dict[str, str]) -> dict:
    return {"npub": machine_key()[1], "name": "Intruder ATM", "fiat_code": "GTQ"}


# Every endpoint of the extension, with a valid body where it takes one: a caller
# who slipped past authentication would succeed, not fail validation. The
# placeholders are filled with one operator's object ids; DELETE aims at the spare
# machine, which has no settlements and so could really be deleted.
ENDPOINTS: list[tuple[str, str, Body | None]] = [
    ("GET", f"{API}/super/config", None),
    ("PUT", f"{API}/super/config", lambda ids: _hijack_fee(ids["wallet_id"])),
    ("GET", f"{API}/super/overview", None),
    ("POST", f"{API}/super/rotate-key", None),
    ("GET", f"{API}/super/relays", None),
    ("GET", f"{API}/platform-fee", None),
    ("GET", f"{API}/machines", None),
    ("POST", f"{API}/machines", _new_machine_body),
    ("GET", f"{API}/machines/{{machine_id}}", None),
    ("PATCH", f"{API}/machines/{{machine_id}}", lambda _: {"name": "Hijacked"}),
    ("DELETE", f"{API}/machines/{{spare_id}}", None),
    ("GET", f"{API}/machines/{{machine_id}}/telemetry", None),
    ("GET", f"{API}/fees", None),
    ("PUT", f"{API}/fees", _fee_schedule),
    ("GET", f"{API}/machines/{{machine_id}}/fees", None),
    ("PUT", f"{API}/machines/{{machine_id}}/fees", _fee_schedule),
    ("DELETE", f"{API}/machines/{{machine_id}}/fees", None),
    (
        "POST",
        f"{API}/machines/{{machine_id}}/fees/quote",
        lambda _: {"fiat_amount": "100.00", "exchange_rate": "500000.00"},
    ),
    ("GET", f"{API}/super/fee-mismatches", None),
    ("GET", f"{API}/machines/{{machine_id}}/notes", None),
    ("POST", f"{API}/machines/{{machine_id}}/notes", lambda _: {"text": "mine"}),
    ("GET", f"{API}/machines/{{machine_id}}/cash", None),
    (
        "PUT",
        f"{API}/machines/{{machine_id}}/cassettes",
        lambda _: {
            "cassettes": [{"position": "1", "denomination": "100", "capacity": 5}]
        },
    ),
    ("POST", f"{API}/machines/{{machine_id}}/refills", lambda _: {"loaded": {"1": 1}}),
    ("GET", f"{API}/alerts/settings", None),
    ("PUT", f"{API}/alerts/settings", lambda _: {"enabled": False}),
    ("GET", f"{API}/alerts", None),
    ("GET", f"{API}/alerts/active", None),
    ("POST", f"{API}/pairings", lambda _: {"name": "Intruder ATM"}),
    ("GET", f"{API}/pairings", None),
    ("GET", f"{API}/rpc/log", None),
    ("GET", f"{API}/rpc/health", None),
    ("GET", f"{API}/splits", None),
    (
        "PUT",
        f"{API}/splits",
        lambda ids: {
            "rules": [
                {"label": "x", "wallet_id": ids["wallet_id"], "weight_bps": 10000}
            ]
        },
    ),
    (
        "POST",
        f"{API}/splits/preview",
        lambda _: {"commission_sats": 100, "direction": "cash_out"},
    ),
    ("GET", f"{API}/settlements", None),
    ("GET", f"{API}/settlements.csv", None),
    ("GET", f"{API}/settlements/totals", None),
    ("GET", f"{API}/stats/daily", None),
    ("GET", f"{API}/settlements/{{settlement_id}}", None),
    ("POST", f"{API}/settlements/manual", _settlement_body),
    ("GET", f"{API}/worklist", None),
    ("POST", f"{API}/settlements/{{settlement_id}}/retry", None),
    ("GET", f"{API}/abandoned", None),
    # No transaction of this world is abandoned: any id stands for "someone's".
    (
        "POST",
        f"{API}/abandoned/{{settlement_id}}/resolve",
        lambda _: {"resolution": "full"},
    ),
    ("POST", f"{API}/abandoned/{{settlement_id}}/link", lambda _: {}),
    ("GET", f"{API}/lps", None),
    (
        "POST",
        f"{API}/lps",
        lambda ids: {"code": ids["lp_code"], "fiat_code": "USD"},
    ),
    (
        "POST",
        f"{API}/lps/{{enrolment_id}}/deposits",
        lambda _: {"fiat_amount": "5.00"},
    ),
    (
        "POST",
        f"{API}/lps/{{enrolment_id}}/settle",
        lambda ids: {"wallet_id": ids["wallet_id"], "exchange_rate": "500000.00"},
    ),
    (
        "PUT",
        f"{API}/lps/{{enrolment_id}}/payout-schedules",
        lambda _: {"offered": ["each"]},
    ),
    ("GET", f"{API}/balance-settlements", None),
    # No balance settlement exists in this world: any id stands for "someone's".
    ("POST", f"{API}/balance-settlements/{{settlement_id}}/retry", None),
    ("POST", f"{API}/balance-settlements/{{settlement_id}}/void", None),
    ("GET", f"{API}/worklist/balance-settlements", None),
    ("PUT", f"{API}/deposits/{{deposit_id}}/confirm", None),
    ("GET", f"{API}/deposits", None),
    ("GET", f"{API}/audit", None),
    ("GET", f"{API}/lp/me", None),
    ("GET", f"{API}/lp/distributions", None),
    ("GET", f"{API}/lp/distributions.csv", None),
    ("GET", f"{API}/lp/balance-settlements", None),
    ("GET", f"{API}/lp/forwarding", None),
    (
        "PUT",
        f"{API}/lp/forwarding",
        lambda _: {"ln_address": "thief@example.com", "fee_reserve_bps": 100},
    ),
    ("GET", f"{API}/lp/forwards", None),
    ("GET", f"{API}/lp/payout-plans", None),
    (
        "PUT",
        f"{API}/lp/payout-plans",
        lambda ids: {"enrolment_id": ids["enrolment_id"], "schedule": "each"},
    ),
    ("GET", f"{API}/lp/payouts", None),
    ("POST", f"{API}/lp/code", lambda _: {}),
    ("GET", f"{API}/lp/code", None),
    ("GET", f"{API}/lp/profile", None),
    ("PUT", f"{API}/lp/profile", lambda _: {"display_name": "Mallory"}),
    ("GET", f"{API}/push/channel", None),
    ("GET", PAGE, None),
    ("GET", SUPER_PAGE, None),
    ("GET", LP_PAGE, None),
]

# Public by design (contract §9.3): a customer's LNURL wallet has no LNbits
# account. A withdraw link's random 32-byte k1 is what admits a caller.
PUBLIC = [
    ("GET", "/satmachineadmin/lnurl/w/{k1}"),
    ("GET", "/satmachineadmin/lnurl/cb"),
]

SUPER_ONLY = [
    ("GET", f"{API}/super/config"),
    ("PUT", f"{API}/super/config"),
    ("GET", f"{API}/super/overview"),
    ("POST", f"{API}/super/rotate-key"),
    ("GET", f"{API}/super/relays"),
    ("GET", f"{API}/super/fee-mismatches"),
    ("GET", SUPER_PAGE),
]

# An operator's lists: none may show another operator's objects.
OPERATOR_LISTS = [
    f"{API}/machines",
    f"{API}/splits",
    f"{API}/settlements",
    f"{API}/settlements.csv",
    f"{API}/lps",
    f"{API}/deposits",
    f"{API}/audit",
]


@dataclass
class Operator:
    """An operator and the objects they set up through the API."""

    actor: Actor
    lp: Actor
    machine: dict
    spare: dict
    settlement: dict
    enrolment: dict
    confirmed: dict
    pending: dict
    lp_code: str  # made by the LP, not used: a valid enrolment body

    @property
    def ids(self) -> dict[str, str]:
        return {
            "machine_id": self.machine["id"],
            "spare_id": self.spare["id"],
            "settlement_id": self.settlement["id"],
            "enrolment_id": self.enrolment["id"],
            "deposit_id": self.pending["id"],
            "wallet_id": self.actor.wallet_id,
            "lp_code": self.lp_code,
        }

    @property
    def markers(self) -> set[str]:
        """Strings that identify this operator's data and nobody else's."""
        found = {
            self.actor.id,
            self.actor.wallet_id,
            self.lp.id,
            self.lp.wallet_id,
            self.settlement["id"],
            self.settlement["tx_id"],
            self.enrolment["id"],
            self.enrolment["lp_id"],
            self.confirmed["id"],
            self.pending["id"],
        }
        for machine in (self.machine, self.spare):
            found |= {machine["id"], machine["pubkey"], machine["npub"]}
            found |= {machine["wallet_id"], machine["name"]}
        return found


@dataclass
class World:
    super: Actor
    a: Operator
    b: Operator
    outsider: Actor  # registered, never enabled the extension

    @property
    def lp(self) -> Actor:
        return self.a.lp


async def call(
    client: httpx.AsyncClient,
    actor: Actor | None,
    method: str,
    path: str,
    body: Any = None,
) -> httpx.Response:
    """One request, as ``actor`` (None: anonymous), with no cookie riding along."""
    client.cookies.clear()
    return await client.request(
        method, path, json=body, headers=actor.headers if actor else {}
    )


async def ok(response_coro, status: int = 200) -> Any:
    response = await response_coro
    assert response.status_code == status, f"{response.request.url}: {response.text}"
    return response.json()


def who(world: World, actor: Actor | None) -> str:
    names = {
        id(world.super): "super user",
        id(world.a.actor): "operator A",
        id(world.b.actor): "operator B",
        id(world.lp): "LP",
        id(world.outsider): "user without the extension",
    }
    return "anonymous" if actor is None else names.get(id(actor), actor.username)


def assert_no_markers(response: httpx.Response, markers: set[str], context: str):
    leaked = sorted(marker for marker in markers if marker in response.text)
    assert not leaked, f"{context} exposes {leaked}: {response.text[:400]}"


async def _operator(client, make_user, prefix: str, lp: Actor) -> Operator:
    actor = await make_user(prefix)

    async def post(path: str, body: dict, status: int = 201) -> dict:
        return await ok(call(client, actor, "POST", f"{API}{path}", body), status)

    machine = await add_machine(client, actor, name=f"{prefix} lobby", fiat_code="GTQ")
    spare = await add_machine(client, actor, name=f"{prefix} spare", fiat_code="GTQ")
    await ok(
        call(
            client,
            actor,
            "PUT",
            f"{API}/splits",
            {
                "rules": [
                    {"label": "self", "wallet_id": actor.wallet_id, "weight_bps": 10000}
                ]
            },
        )
    )
    enrolment = await enrol_lp(client, actor, lp)
    deposits = f"/lps/{enrolment['id']}/deposits"
    confirmed = await post(deposits, {"fiat_amount": FIAT_AMOUNT})
    confirmed = await ok(
        call(client, actor, "PUT", f"{API}/deposits/{confirmed['id']}/confirm")
    )
    assert confirmed["status"] == "confirmed"
    settlement = await post(
        "/settlements/manual", _settlement_body({"machine_id": machine["id"]})
    )
    assert settlement["lp_allocated_sats"] == PRINCIPAL_SATS, settlement
    # Recorded after the settlement: an unconfirmed deposit funds nothing anyway.
    pending = await post(deposits, {"fiat_amount": "10.00"})
    enrolment = next(
        row
        for row in await ok(call(client, actor, "GET", f"{API}/lps"))
        if row["id"] == enrolment["id"]
    )
    return Operator(
        actor=actor,
        lp=lp,
        machine=machine,
        spare=spare,
        settlement=settlement,
        enrolment=enrolment,
        confirmed=confirmed,
        pending=pending,
        lp_code=await lp_code(client, lp),
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def world(client, super_user, make_user, super_config_for_module) -> World:
    await ok(
        super_config_for_module.put(
            {"cash_out_fee_bps": FEE_BPS, "super_wallet_id": super_user.wallet_id}
        )
    )
    a = await _operator(client, make_user, "opa", await make_user("lp"))
    b = await _operator(client, make_user, "opb", await make_user("lpb"))

    username = f"noext{uuid.uuid4().hex[:8]}"
    registered = await client.post(
        "/api/v1/auth/register",
        json={
            "username": username,
            "password": "user-password",
            "password_repeat": "user-password",
        },
    )
    assert registered.status_code == 200, registered.text
    client.cookies.clear()
    outsider = Actor(id="", username=username, token=registered.json()["access_token"])
    return World(super=super_user, a=a, b=b, outsider=outsider)


def _unsent(markers: set[str], path: str, body: Any) -> set[str]:
    """The markers the caller did not send: the ones an answer must not echo."""
    sent = path + json.dumps(body)
    return {marker for marker in markers if marker not in sent}


def _request(method: str, template: str, body: Body | None, ids: dict[str, str]):
    return method, template.format(**ids), None if body is None else body(ids)


# --- the table is the whole API -------------------------------------------------------


async def test_table_lists_every_route(client):
    from satmachineadmin import satmachineadmin_ext

    routes = {
        (method, re.sub(r"\{[^}]+\}", "{}", route.path))
        for route in satmachineadmin_ext.routes
        if isinstance(route, Route)  # HTTP routes; they have a path and methods
        for method in route.methods or ()
        if method != "HEAD"
    }
    listed = {
        (method, re.sub(r"\{[^}]+\}", "{}", template.split("?")[0]))
        for method, template, _ in [*ENDPOINTS, *((m, t, None) for m, t in PUBLIC)]
    }
    assert routes == listed, (
        f"not walked: {sorted(routes - listed)}; gone: {sorted(listed - routes)}"
    )


async def test_the_public_lnurl_routes_admit_only_a_link(client, world):
    """Anonymous, without a link's k1: LUD-03's refusal, nothing else."""
    refusal = {"status": "ERROR", "reason": "unknown withdraw link"}
    for k1 in ("0" * 64, world.a.ids["machine_id"], "x", "a" * 5000):
        client.cookies.clear()
        fetched = await client.get(f"/satmachineadmin/lnurl/w/{k1}")
        assert (fetched.status_code, fetched.json()) == (200, refusal), k1
        called = await client.get(
            "/satmachineadmin/lnurl/cb", params={"k1": k1, "pr": "lnbc1"}
        )
        assert (called.status_code, called.json()) == (200, refusal), k1


# --- callers without access -----------------------------------------------------------


async def test_anonymous_gets_401_everywhere(client, world):
    for method, template, body in ENDPOINTS:
        method, path, json_body = _request(method, template, body, world.a.ids)
        response = await call(client, None, method, path, json_body)
        assert response.status_code == 401, (
            f"anonymous {method} {path}: {response.status_code} {response.text[:200]}"
        )
        assert_no_markers(
            response, _unsent(world.a.markers, path, json_body), f"anonymous {method}"
        )


async def test_user_without_the_extension_gets_403_everywhere(client, world):
    for method, template, body in ENDPOINTS:
        method, path, json_body = _request(method, template, body, world.a.ids)
        response = await call(client, world.outsider, method, path, json_body)
        assert response.status_code == 403, (
            f"{who(world, world.outsider)} {method} {path}: "
            f"{response.status_code} {response.text[:200]}"
        )


async def test_anonymous_and_outsiders_changed_nothing(client, world):
    """The walks above sent valid bodies: nothing they asked for may have happened."""
    fee = await ok(call(client, world.super, "GET", f"{API}/platform-fee"))
    assert fee["cash_out_fee_bps"] == FEE_BPS
    machine = await ok(
        call(client, world.a.actor, "GET", f"{API}/machines/{world.a.machine['id']}")
    )
    assert machine["name"] == world.a.machine["name"]
    machines = await ok(call(client, world.a.actor, "GET", f"{API}/machines"))
    assert {m["id"] for m in machines} == {world.a.machine["id"], world.a.spare["id"]}
    page = await ok(call(client, world.a.actor, "GET", f"{API}/settlements"))
    assert page["total"] == 1
    deposits = await ok(call(client, world.a.actor, "GET", f"{API}/deposits"))
    assert {(d["id"], d["status"]) for d in deposits} == {
        (world.a.confirmed["id"], "confirmed"),
        (world.a.pending["id"], "pending"),
    }
    lps = await ok(call(client, world.a.actor, "GET", f"{API}/lps"))
    assert [row["id"] for row in lps] == [world.a.enrolment["id"]]


# --- the super user's endpoints -------------------------------------------------------


async def test_super_only_endpoints(client, world):
    before = await ok(call(client, world.super, "GET", f"{API}/super/config"))
    assert "server_private_key" not in before
    super_bodies = {"PUT": {"cash_out_fee_bps": FEE_BPS}}
    for method, path in SUPER_ONLY:
        response = await call(
            client, world.super, method, path, super_bodies.get(method)
        )
        assert response.status_code == 200, f"super {method} {path}: {response.text}"
        for actor in (world.a.actor, world.b.actor, world.lp):
            body = _hijack_fee(actor.wallet_id) if method == "PUT" else None
            response = await call(client, actor, method, path, body)
            assert response.status_code == 403, (
                f"{who(world, actor)} {method} {path}: "
                f"{response.status_code} {response.text[:200]}"
            )
            assert world.super.wallet_id not in response.text

    after = await ok(call(client, world.super, "GET", f"{API}/super/config"))
    fee_fields = ("cash_in_fee_bps", "cash_out_fee_bps", "super_wallet_id")
    assert {k: after[k] for k in fee_fields} == {k: before[k] for k in fee_fields}
    assert after["cash_out_fee_bps"] == FEE_BPS, "an operator changed the fee"
    assert after["super_wallet_id"] == world.super.wallet_id

    overview = await ok(call(client, world.super, "GET", f"{API}/super/overview"))
    rows = {row["operator_id"]: row for row in overview}
    for operator in (world.a, world.b):
        row = rows[operator.actor.id]
        assert (row["machines"], row["settlements"]) == (2, 1), row
        assert row["platform_fee_sats"] == 30, row


async def test_platform_fee_is_public_to_users_and_read_only(client, world):
    path = f"{API}/platform-fee"
    bodies = []
    for actor in (world.super, world.a.actor, world.b.actor, world.lp):
        response = await call(client, actor, "GET", path)
        assert response.status_code == 200, f"{who(world, actor)}: {response.text}"
        bodies.append(response.json())
    assert all(body == bodies[0] for body in bodies), bodies
    assert bodies[0]["cash_out_fee_bps"] == FEE_BPS
    assert "super_wallet_id" not in bodies[0]
    assert "server_private_key" not in bodies[0]

    for actor in (world.a.actor, world.super):
        for method in ("PUT", "POST", "PATCH", "DELETE"):
            response = await call(client, actor, method, path, {"cash_out_fee_bps": 0})
            assert response.status_code == 405, (
                f"{who(world, actor)} {method} {path}: {response.status_code}"
            )
    fee = await ok(call(client, world.super, "GET", path))
    assert fee == bodies[0]


# --- operators: their own objects, and nobody else's ---------------------------------


async def test_operator_lists_hold_only_their_own_objects(client, world):
    # What each list of an operator must show of their own objects.
    own_marker: dict[str, Callable[[Operator], str]] = {
        f"{API}/machines": lambda op: op.spare["pubkey"],
        f"{API}/splits": lambda op: op.actor.wallet_id,
        f"{API}/settlements": lambda op: op.settlement["id"],
        f"{API}/settlements.csv": lambda op: op.settlement["tx_id"],
        f"{API}/lps": lambda op: op.enrolment["id"],
        f"{API}/deposits": lambda op: op.pending["id"],
        f"{API}/audit": lambda op: op.machine["pubkey"],
    }
    assert set(own_marker) == set(OPERATOR_LISTS)
    operators = {world.a.actor.id: world.a, world.b.actor.id: world.b}
    for actor in (world.a.actor, world.b.actor, world.lp, world.super):
        own = operators.get(actor.id)
        foreign: set[str] = set()
        for operator in (world.a, world.b):
            if operator is not own:
                foreign |= operator.markers
        foreign -= {actor.id, *(wallet["id"] for wallet in actor.wallets)}
        for path in OPERATOR_LISTS:
            response = await call(client, actor, "GET", path)
            context = f"{who(world, actor)} GET {path}"
            assert response.status_code == 200, f"{context}: {response.text[:200]}"
            assert_no_markers(response, foreign, context)
            if own is not None:
                assert own_marker[path](own) in response.text, context

    # The LP and the super user operate nothing here.
    for actor in (world.lp, world.super):
        for path in (f"{API}/machines", f"{API}/lps", f"{API}/deposits"):
            assert await ok(call(client, actor, "GET", path)) == [], path


# The payout worker goes on retrying the world's failed legs while the intruder
# tries: how far it got, and what it audits as "system:payouts", is its own doing.
PAYOUT_PROGRESS = ("status", "legs_done", "legs_failed", "failure")


def _what_people_did(path: str, body: object) -> object:
    if path.endswith("/settlements") and isinstance(body, dict):
        return [
            {k: v for k, v in row.items() if k not in PAYOUT_PROGRESS}
            for row in body["data"]
        ]
    if path.endswith("/audit") and isinstance(body, list):
        return [row for row in body if not row["actor"].startswith("system:")]
    return body


async def _snapshot(client, operator: Operator) -> dict:
    actor = operator.actor
    return {
        path: _what_people_did(path, (await call(client, actor, "GET", path)).json())
        for path in (
            f"{API}/machines",
            f"{API}/splits",
            f"{API}/settlements",
            f"{API}/lps",
            f"{API}/deposits",
            f"{API}/audit",
        )
    }


# Requests at another operator's objects: each must be 404.
FOREIGN: list[tuple[str, str, Body | None]] = [
    (method, template, body) for method, template, body in ENDPOINTS if "{" in template
] + [
    ("POST", f"{API}/settlements/manual", _settlement_body),
    ("PUT", f"{API}/deposits/{{confirmed_id}}/confirm", None),
    ("GET", f"{API}/machines/{{spare_id}}", None),
    ("PATCH", f"{API}/machines/{{spare_id}}", lambda _: {"status": "disabled"}),
    ("DELETE", f"{API}/machines/{{machine_id}}", None),
]

# Filters naming another operator's objects: an empty answer, not theirs.
FOREIGN_FILTERS = [
    f"{API}/settlements?machine_id={{machine_id}}",
    f"{API}/settlements.csv?machine_id={{machine_id}}",
    f"{API}/deposits?enrolment_id={{enrolment_id}}",
]


@pytest.mark.parametrize(
    ("intruder", "owner"),
    [("a", "b"), ("b", "a"), ("lp", "a"), ("super", "a")],
)
async def test_foreign_objects_are_not_found(client, world, intruder, owner):
    target: Operator = getattr(world, owner)
    actor: Actor = getattr(world, intruder)
    if isinstance(actor, Operator):
        actor = actor.actor
    name = who(world, actor)
    ids = {**target.ids, "confirmed_id": target.confirmed["id"]}
    own = {actor.id, *(wallet["id"] for wallet in actor.wallets)}
    before = await _snapshot(client, target)

    for method, template, body in FOREIGN:
        method, path, json_body = _request(method, template, body, ids)
        response = await call(client, actor, method, path, json_body)
        context = f"{name} {method} {path}"
        assert response.status_code == 404, (
            f"{context}: {response.status_code} {response.text[:200]}"
        )
        assert_no_markers(
            response, _unsent(target.markers - own, path, json_body), context
        )

    for template in FOREIGN_FILTERS:
        path = template.format(**ids)
        response = await call(client, actor, "GET", path)
        context = f"{name} GET {path}"
        assert response.status_code == 200, f"{context}: {response.text[:200]}"
        assert_no_markers(response, target.markers - own - {ids["machine_id"]}, context)
        if ".csv" in path:
            assert response.text.strip().count("\n") == 0, context
        elif "settlements" in path:
            assert response.json()["data"] == [] and response.json()["total"] == 0
        else:
            assert response.json() == [], context

    assert await _snapshot(client, target) == before, f"{name} changed {owner}'s data"


@pytest.mark.slow
async def test_operator_uses_own_objects(client, world, make_user):
    a = world.a.actor
    machine_path = f"{API}/machines/{world.a.machine['id']}"
    machine = await ok(call(client, a, "GET", machine_path))
    assert machine == world.a.machine
    patched = await ok(call(client, a, "PATCH", machine_path, {"location": "Lobby"}))
    assert patched["location"] == "Lobby"

    settlement = await ok(
        call(client, a, "GET", f"{API}/settlements/{world.a.settlement['id']}")
    )
    assert settlement["operator_id"] == a.id
    assert {leg["kind"] for leg in settlement["legs"]} == {
        "platform_fee",
        "operator_split",
        "lp_distribution",
    }
    page = await ok(
        call(client, a, "GET", f"{API}/settlements?machine_id={machine['id']}")
    )
    assert [row["id"] for row in page["data"]] == [world.a.settlement["id"]]

    # A fresh LP, so that the world's LP keeps the balances the LP test expects.
    newcomer = await make_user("lpc")
    enrolment = await enrol_lp(client, a, newcomer)
    deposit = await ok(
        call(
            client,
            a,
            "POST",
            f"{API}/lps/{enrolment['id']}/deposits",
            {"fiat_amount": "1.00"},
        ),
        201,
    )
    confirmed = await ok(
        call(client, a, "PUT", f"{API}/deposits/{deposit['id']}/confirm")
    )
    assert confirmed["status"] == "confirmed"

    throwaway = await add_machine(client, a, name="Throwaway", fiat_code="GTQ")
    deleted = await ok(call(client, a, "DELETE", f"{API}/machines/{throwaway['id']}"))
    assert deleted["deleted"] == throwaway["id"]
    with_settlements = await call(client, a, "DELETE", machine_path)
    assert with_settlements.status_code == 409, with_settlements.text

    for actor in (world.super, a, world.b.actor, world.lp):
        for page in (PAGE, LP_PAGE):
            response = await call(client, actor, "GET", page)
            assert response.status_code == 200, f"{who(world, actor)}: {response.text}"
            assert response.headers["content-type"].startswith("text/html")


# --- liquidity providers -------------------------------------------------------------


async def test_lp_sees_own_enrolment_only(client, world):
    me = await ok(call(client, world.lp, "GET", f"{API}/lp/me"))
    assert me["lp_id"] == world.a.enrolment["lp_id"]
    assert len(me["balances"]) == 1, me
    balance = me["balances"][0]
    assert balance["enrolment_id"] == world.a.enrolment["id"]
    assert balance["operator"] == world.a.actor.username
    assert balance["fiat_code"] == "GTQ"
    assert balance["deposited"] == FIAT_AMOUNT
    assert balance["distributed"] == FIAT_AMOUNT
    assert balance["distributed_sats"] == PRINCIPAL_SATS
    assert balance["balance"] == "0.00"
    assert balance["pending_deposits"] == "10.00"
    assert [total["deposited"] for total in me["totals"]] == [FIAT_AMOUNT]
    assert balance["wallet_id"] == world.lp.wallet_id

    distributions = await ok(call(client, world.lp, "GET", f"{API}/lp/distributions"))
    assert [
        (d["settlement_id"], d["sats"], d["fiat_amount"]) for d in distributions
    ] == [(world.a.settlement["id"], PRINCIPAL_SATS, FIAT_AMOUNT)]

    foreign = world.b.markers - {world.lp.id, world.lp.wallet_id}
    for path in (f"{API}/lp/me", f"{API}/lp/distributions"):
        response = await call(client, world.lp, "GET", path)
        assert_no_markers(response, foreign, f"LP GET {path}")

        for actor in (world.super, world.a.actor, world.b.actor):
            response = await call(client, actor, "GET", path)
            context = f"{who(world, actor)} GET {path}"
            assert response.status_code == 200, f"{context}: {response.text}"
            expected = (
                {"lp_id": None, "balances": [], "totals": []}
                if path.endswith("me")
                else []
            )
            assert response.json() == expected, context

        response = await call(client, None, "GET", path)
        assert response.status_code == 401, f"anonymous GET {path}"


async def test_lp_distributions_csv(client, world):
    path = f"{API}/lp/distributions.csv"
    response = await call(client, world.lp, "GET", path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    distributions = await ok(call(client, world.lp, "GET", f"{API}/lp/distributions"))
    assert len(rows) == len(distributions) == 1, response.text
    row, distribution = rows[0], distributions[0]
    # 1000.00 GTQ for 150 000 sats: 666 666.67 GTQ per BTC, 150 sats per GTQ.
    assert {key: value for key, value in row.items() if key != "status"} == {
        "created_at": datetime.fromtimestamp(
            distribution["created_at"], timezone.utc
        ).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "settlement_id": world.a.settlement["id"],
        "leg_id": distribution["leg_id"],
        "operator": world.a.actor.username,
        "machine": "opa lobby",
        "direction": "cash-out",
        "enrolment_id": world.a.enrolment["id"],
        "fiat_code": "GTQ",
        "fiat_amount": FIAT_AMOUNT,
        "sats": str(PRINCIPAL_SATS),
        "exchange_rate": RATE,
        "cost_basis": "666666.67",
        "sats_per_fiat_unit": "150.00",
    }
    assert row["status"] == distribution["status"]
    assert (distribution["cost_basis"], distribution["sats_per_fiat_unit"]) == (
        "666666.67",
        "150.00",
    )
    assert_no_markers(
        response, world.b.markers - {world.lp.id, world.lp.wallet_id}, "LP CSV"
    )

    # Nobody else is that LP: a header and no rows.
    for actor in (world.super, world.a.actor, world.b.actor):
        response = await call(client, actor, "GET", path)
        assert response.status_code == 200, f"{who(world, actor)}: {response.text}"
        assert response.text.strip().count("\n") == 0, who(world, actor)
        assert_no_markers(response, world.a.markers, f"{who(world, actor)} LP CSV")


# --- identities: nobody sees another person's LNbits user id or wallet id -------


def _ids_of(*actors: Actor) -> set[str]:
    return {
        value
        for actor in actors
        for value in (actor.id, *(wallet["id"] for wallet in actor.wallets))
    }


async def test_lp_sees_operators_by_name_never_by_id(client, world):
    operator = world.a
    hidden = _ids_of(operator.actor, world.super) | {
        machine["wallet_id"] for machine in (operator.machine, operator.spare)
    }
    for path in (
        f"{API}/lp/me",
        f"{API}/lp/distributions",
        f"{API}/lp/distributions.csv",
        f"{API}/lp/code",
        f"{API}/lp/profile",
        f"{API}/lp/forwarding",
        f"{API}/lp/forwards",
        f"{API}/lp/payout-plans",
        f"{API}/lp/payouts",
    ):
        response = await call(client, world.lp, "GET", path)
        assert response.status_code == 200, f"{path}: {response.text}"
        assert_no_markers(response, hidden, f"LP GET {path}")
    me = await ok(call(client, world.lp, "GET", f"{API}/lp/me"))
    assert [b["operator"] for b in me["balances"]] == [operator.actor.username]


async def test_operator_sees_no_super_or_lp_ids(client, world):
    operator = world.a
    hidden = _ids_of(world.super, world.lp)
    settlement_id = operator.settlement["id"]
    paths = [*OPERATOR_LISTS, f"{API}/settlements/{settlement_id}"]
    paths += [f"{API}/worklist", f"{API}/pairings", f"{API}/balance-settlements"]
    for path in paths:
        response = await call(client, operator.actor, "GET", path)
        assert response.status_code == 200, f"{path}: {response.text}"
        assert_no_markers(response, hidden, f"operator GET {path}")
    preview = await call(
        client,
        operator.actor,
        "POST",
        f"{API}/splits/preview",
        {"commission_sats": 1000, "direction": "cash_out"},
    )
    assert_no_markers(preview, hidden, "operator split preview")
    settlement = await ok(
        call(client, operator.actor, "GET", f"{API}/settlements/{settlement_id}")
    )
    assert "super_wallet_id" not in settlement["fee_snapshot"]
    legs = {leg["kind"]: leg for leg in settlement["legs"]}
    assert legs["platform_fee"]["label"] == "Platform fee"
    assert legs["platform_fee"]["wallet_id"] is None
    assert legs["lp_distribution"]["wallet_id"] is None
    assert legs["lp_distribution"]["lp_enrolment_id"] == operator.enrolment["id"]
    enrolment = next(
        row
        for row in await ok(call(client, operator.actor, "GET", f"{API}/lps"))
        if row["id"] == operator.enrolment["id"]
    )
    assert enrolment["name"] == world.lp.username
    assert "user_id" not in enrolment and "wallet_id" not in enrolment


async def test_enrolling_by_wallet_or_user_id_reveals_nothing(client, world, make_user):
    """An operator cannot turn a wallet id into its owner's user id, nor enrol
    anyone without their code."""
    operator = world.b.actor
    victim = world.lp
    for field, real in (("wallet_id", victim.wallet_id), ("user_id", victim.id)):
        answers = []
        for value in (real, uuid.uuid4().hex):
            body = {field: value, "fiat_code": "GTQ"}
            response = await call(client, operator, "POST", f"{API}/lps", body)
            assert response.status_code == 400, response.text
            assert victim.id not in response.text
            assert victim.username not in response.text
            answers.append(response.json())
        assert answers[0] == answers[1], answers
    # A guessed code is refused like any other, and enrols nobody.
    guessed = await call(
        client,
        operator,
        "POST",
        f"{API}/lps",
        {"code": "ABCD-EFGH-JKMN", "fiat_code": "GTQ"},
    )
    assert guessed.status_code == 400, guessed.text
    assert "not valid" in guessed.text
    lps = await ok(call(client, operator, "GET", f"{API}/lps"))
    assert [row["id"] for row in lps] == [world.b.enrolment["id"]]


def test_cost_basis_rounding():
    from satmachineadmin.services import cost_basis

    # 2 decimals: 10.00 GTQ for 2001 sats = 499750.12... GTQ/BTC, 200.1 sats/GTQ.
    assert cost_basis(1000, 2001, "GTQ") == ("499750.12", "200.10")
    # Half up at the minor unit: 0.01 GTQ for 8 sats = 125000.00 exactly; 1 JPY
    # (no decimals) for 3 sats = 33333333.33... → 33333333.
    assert cost_basis(1, 8, "GTQ") == ("125000.00", "800.00")
    assert cost_basis(1, 3, "JPY") == ("33333333", "3.00")
    # 1 sat for 0.15 GTQ: 15 000 000 GTQ/BTC; 6.666... sats/GTQ → 6.67.
    assert cost_basis(15, 1, "GTQ") == ("15000000.00", "6.67")
    assert cost_basis(1000, 0, "GTQ") == (None, "0.00")
    assert cost_basis(0, 5, "GTQ") == ("0.00", None)

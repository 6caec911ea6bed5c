"""Notices of change on LNbits' websocket: a private channel per user, a notice to
those a change concerns and to no one else, and nothing in it but what changed."""

from __future__ import annotations

import json
import time
import uuid
from asyncio import Queue
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from in_process_rpc import Atm, cash_out_params, pay_from_customer, register
from lnbits.core.services.websockets import WebsocketConnection, websocket_manager

from helpers import API, add_machine, enrol_lp
from satmachineadmin.rpc import beacons
from satmachineadmin.services import push


class Listener:
    """A page's open websocket as LNbits' connection manager holds it."""

    def __init__(self) -> None:
        self.received: list[dict] = []

    async def send_text(self, data: str) -> None:
        self.received.append(json.loads(data))

    @property
    def areas(self) -> set[str]:
        return {area for notice in self.received for area in notice["changed"]}


@pytest_asyncio.fixture(loop_scope="session")
async def listen(client) -> AsyncIterator:
    """Opens a listener on an actor's channel, as the page does after asking for
    it; closes them all afterwards."""
    opened: list[WebsocketConnection] = []

    async def _listen(actor) -> Listener:
        response = await client.get(f"{API}/push/channel", headers=actor.headers)
        assert response.status_code == 200, response.text
        listener = Listener()
        connection = WebsocketConnection(
            item_id=response.json()["channel"],
            websocket=listener,  # type: ignore[arg-type]
            receive_queue=Queue(),
        )
        websocket_manager.active_connections.append(connection)
        opened.append(connection)
        return listener

    yield _listen
    await push.drain()
    for connection in opened:
        websocket_manager.active_connections.remove(connection)


async def test_the_channel_is_private_stable_and_per_user(client, make_user):
    anonymous = await client.get(f"{API}/push/channel")
    assert anonymous.status_code == 401, anonymous.text

    first, second = await make_user("push"), await make_user("push")
    channels = []
    for actor in (first, first, second):
        response = await client.get(f"{API}/push/channel", headers=actor.headers)
        assert response.status_code == 200, response.text
        channels.append(response.json()["channel"])
    assert channels[0] == channels[1]  # the same page channel on every call
    assert channels[0] != channels[2]
    for channel in channels:
        assert len(channel) >= 40  # 32 random bytes, URL-safe base64
        assert first.id not in channel and second.id not in channel


@pytest.mark.slow
async def test_a_settlement_is_pushed_to_its_operator_and_lps_only(
    server, client, operator, make_user, listen
):
    lp, other_operator = await make_user("lp"), await make_user("op")
    enrolment = await enrol_lp(client, operator, lp)
    deposit = await client.post(
        f"{API}/lps/{enrolment['id']}/deposits",
        json={"fiat_amount": "2000.00"},
        headers=operator.headers,
    )
    assert deposit.status_code == 201, deposit.text
    confirmed = await client.put(
        f"{API}/deposits/{deposit.json()['id']}/confirm", headers=operator.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    atm = Atm(server)
    await register(client, operator, atm)
    await push.drain()  # what enrolling and the deposit told: not this test's

    to_operator, to_lp = await listen(operator), await listen(lp)
    to_other = await listen(other_operator)
    params = cash_out_params()
    invoice = (await atm.call("make_invoice", params))["result"]
    await pay_from_customer(make_user, invoice["bolt11"])
    report = {"tx_id": params["tx_id"], "dispensed_fiat": "1000.00"}
    dispensed = (await atm.call("report_dispense", report))["result"]
    await push.drain()

    assert "settlements" in to_operator.areas
    assert "settlements" in to_lp.areas
    assert to_other.received == []
    for notice in to_operator.received + to_lp.received:
        # Nothing but the areas: no id, no amount, no name.
        assert set(notice) == {"changed"}
        assert set(notice["changed"]) <= {
            "settlements",
            "machines",
            "lps",
            "alerts",
            "relays",
        }
        assert dispensed["settlement_id"] not in json.dumps(notice)


async def test_a_deposit_is_pushed_to_the_lp_and_not_another(
    client, operator, make_user, listen
):
    lp, other_lp = await make_user("lp"), await make_user("lp")
    enrolment = await enrol_lp(client, operator, lp)
    await enrol_lp(client, operator, other_lp)
    await push.drain()
    to_lp, to_other_lp = await listen(lp), await listen(other_lp)

    deposit = await client.post(
        f"{API}/lps/{enrolment['id']}/deposits",
        json={"fiat_amount": "10.00"},
        headers=operator.headers,
    )
    assert deposit.status_code == 201, deposit.text
    await push.drain()

    assert to_lp.received == [{"changed": ["lps"]}]
    assert to_other_lp.received == []


async def test_a_push_that_fails_does_not_fail_the_change(
    client, operator, make_user, listen, monkeypatch
):
    lp = await make_user("lp")
    enrolment = await enrol_lp(client, operator, lp)
    await push.drain()
    await listen(operator)

    async def broken(channel: str, data: str) -> None:
        raise RuntimeError("the socket went away")

    monkeypatch.setattr(websocket_manager, "send", broken)
    deposit = await client.post(
        f"{API}/lps/{enrolment['id']}/deposits",
        json={"fiat_amount": "10.00"},
        headers=operator.headers,
    )
    assert deposit.status_code == 201, deposit.text
    await push.drain()  # the failed send is logged, not raised
    listed = await client.get(f"{API}/deposits", headers=operator.headers)
    assert deposit.json()["id"] in {row["id"] for row in listed.json()}


async def test_notices_to_one_user_are_coalesced(make_user, listen):
    user = await make_user("push")
    listener = await listen(user)
    push.notify([user.id], push.SETTLEMENTS)
    await push.drain()
    assert listener.received == [{"changed": ["settlements"]}]

    # Within a second of that notice: all of these go out together, once.
    for area in (push.MACHINES, push.MACHINES, push.LPS, push.ALERTS):
        push.notify([user.id], area)
    await push.drain()
    assert listener.received[1:] == [{"changed": ["alerts", "lps", "machines"]}]


async def test_a_beacon_is_pushed_only_when_it_shows_something_new(
    client, operator, make_user, listen
):
    machine = await add_machine(client, operator)
    await push.drain()  # what pairing told: not this test's
    to_operator = await listen(operator)
    sent = [int(time.time())]

    async def beacon(content: str) -> None:
        sent.append(sent[-1] + 1)  # each newer than the last, as a machine sends
        await beacons.record_beacon(
            machine_id=machine["id"],
            d_tag="bitspire-beacon",
            event_id=uuid.uuid4().hex * 2,
            created_at=sent[-1],
            content=content,
            offline_after_s=300,
            operator_id=operator.id,
        )
        await push.drain()

    await beacon('{"cash_out": true}')  # the first: the machine comes online
    assert to_operator.received == [{"changed": ["machines"]}]
    await beacon('{"cash_out": true}')  # the same again: nothing new to show
    assert len(to_operator.received) == 1
    await beacon('{"cash_out": false}')
    assert to_operator.received[1:] == [{"changed": ["machines"]}]


async def test_whose_an_lp_is_is_looked_up_once(
    client, operator, make_user, listen, monkeypatch
):
    """Every payout leg tells its LP: the LP's user is read from the database the
    first time only, not at every leg."""
    from satmachineadmin import crud

    lp = await make_user("lp")
    enrolment = await enrol_lp(client, operator, lp)
    await push.drain()
    to_lp = await listen(lp)
    lookups: list[list[str]] = []
    real = crud.users_of_enrolments

    async def counted(*, enrolment_ids, conn=None):
        lookups.append(list(enrolment_ids))
        return await real(enrolment_ids=enrolment_ids, conn=conn)

    monkeypatch.setattr(crud, "users_of_enrolments", counted)
    for _ in range(3):
        push.notify_settlement(operator.id, [enrolment["id"]])
        await push.drain()

    assert lookups == [[enrolment["id"]]]
    assert to_lp.received == [{"changed": ["settlements"]}] * 3


async def test_a_users_channel_is_read_once_and_a_missing_one_once_a_minute(
    client, make_user, monkeypatch
):
    """Notices to users with no page open (most of them, most of the time) cost
    no database read each: a channel never changes once made, and a user without
    one is asked again only after a minute."""
    from satmachineadmin import crud

    reads: list[str] = []
    real = crud.get_push_channel

    async def counted(*, user_id, conn=None):
        reads.append(user_id)
        return await real(user_id=user_id, conn=conn)

    monkeypatch.setattr(crud, "get_push_channel", counted)
    never_opened = await make_user("quiet")
    opened = await make_user("watcher")
    response = await client.get(f"{API}/push/channel", headers=opened.headers)
    assert response.status_code == 200, response.text
    reads.clear()  # making the channel read it once, and keeps it
    for _ in range(3):
        push.notify([never_opened.id, opened.id], push.SETTLEMENTS)
        await push.drain()
    assert reads == [never_opened.id]
    monkeypatch.setattr(push, "NO_CHANNEL_RECHECK_S", 0.0)
    push._no_channel_until.clear()  # a minute later
    push.notify([never_opened.id], push.SETTLEMENTS)
    await push.drain()
    assert reads == [never_opened.id, never_opened.id]

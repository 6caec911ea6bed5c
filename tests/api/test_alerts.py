"""Alerts through LNbits' user notifications: the settings, a machine offline
fires once and resolves once (a flap in between sends nothing), cash running
low, a relay down for the super user, and of two evaluations racing for the
same alert only one sends."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest
from in_process_rpc import Atm, register

from helpers import API
from satmachineadmin import crud, services
from satmachineadmin.alerts import Timing
from satmachineadmin.rpc import beacons

MINUTE = 60


@pytest.fixture
def outbox(monkeypatch):
    """What LNbits' notification queue is handed: (e-mail address, text)."""
    from lnbits.core.services import notifications
    from lnbits.settings import settings

    sent: list[tuple[str | None, str]] = []
    monkeypatch.setattr(settings, "lnbits_email_notifications_enabled", True)
    monkeypatch.setattr(
        notifications,
        "enqueue_user_notification",
        lambda kind, values, channels: sent.append(
            (channels.email_address, values["message"])
        ),
    )
    return sent


async def with_email(actor) -> str:
    from lnbits.core.crud import get_account, update_account

    account = await get_account(actor.id)
    assert account is not None
    address = f"{uuid.uuid4().hex[:8]}@example.com"
    account.extra.notifications.email_address = address
    await update_account(account)
    return address


# Every kind of alert there is: a test switches on those it is about, so that no
# other kind fires in between.
ALERT_KINDS = (
    "machine_offline",
    "cash_low",
    "payouts_failing",
    "fee_mismatch",
    "pairing_used",
    "relay_down",
)


def only(*kinds: str, **settings) -> dict:
    """Alert settings, enabled, with only ``kinds`` on, and ``settings``."""
    assert set(kinds) <= set(ALERT_KINDS), kinds
    return {"enabled": True, **{k: k in kinds for k in ALERT_KINDS}, **settings}


async def put_settings(client, actor, body):
    client.cookies.clear()
    return await client.put(f"{API}/alerts/settings", json=body, headers=actor.headers)


def to(address: str, outbox) -> list[str]:
    return [text for email, text in outbox if email == address]


async def history(client, actor) -> list[dict]:
    client.cookies.clear()
    response = await client.get(f"{API}/alerts", headers=actor.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def seen_at(machine_id: str, at: int) -> None:
    await beacons.record_beacon(
        machine_id=machine_id,
        d_tag="bitspire-beacon",
        event_id=uuid.uuid4().hex * 2,
        created_at=at,
        content="{}",
        offline_after_s=300,
    )


async def test_settings_are_the_users_own_and_bounded(client, operator):
    client.cookies.clear()
    defaults = await client.get(f"{API}/alerts/settings", headers=operator.headers)
    assert defaults.status_code == 200 and defaults.json()["enabled"] is False
    saved = await put_settings(
        client, operator, {"enabled": True, "offline_after_min": 5, "repeat_hours": 0}
    )
    assert saved.status_code == 200, saved.text
    client.cookies.clear()
    again = (
        await client.get(f"{API}/alerts/settings", headers=operator.headers)
    ).json()
    assert again["enabled"] is True and again["offline_after_min"] == 5
    for body, why in (
        ({"offline_after_min": 0}, "greater than or equal to 1"),
        ({"hold_down_min": -1}, "greater than or equal to 0"),
        ({"repeat_hours": 10**6}, "less than or equal to 720"),
        ({"cassette_low_percent": "5"}, "integer"),
        ({"enabled": "yes"}, "bool"),
        ({"sms": True}, "extra fields not permitted"),
    ):
        refused = await put_settings(client, operator, body)
        assert refused.status_code == 400, (body, refused.text)
        assert why in refused.text, (body, refused.text)


async def test_offline_fires_once_and_resolves_once_through_flaps(
    server, client, operator, outbox
):
    address = await with_email(operator)
    machine = await register(client, operator, Atm(server))
    await put_settings(
        client,
        operator,
        only("machine_offline", offline_after_min=15, hold_down_min=10, repeat_hours=0),
    )
    start = machine["created_at"]
    await services.evaluate_alerts(at=start + 5 * MINUTE, relays=[])
    assert to(address, outbox) == []  # quiet for 5 minutes: no alert yet
    for minutes in (20, 21, 60, 200):
        await services.evaluate_alerts(at=start + minutes * MINUTE, relays=[])
    (fired,) = to(address, outbox)
    # Last heard of when it paired, seconds after it was added.
    assert re.fullmatch(
        f"{machine['name']} is offline: no beacon nor request for (19|20) min.", fired
    )
    # Back, gone again within the hold-down, back: nothing new.
    back = start + 201 * MINUTE
    await seen_at(machine["id"], back)
    await services.evaluate_alerts(at=back, relays=[])
    await services.evaluate_alerts(at=back + 16 * MINUTE, relays=[])
    await seen_at(machine["id"], back + 17 * MINUTE)
    await services.evaluate_alerts(at=back + 17 * MINUTE, relays=[])
    assert len(to(address, outbox)) == 1
    await seen_at(machine["id"], back + 28 * MINUTE)
    await services.evaluate_alerts(at=back + 28 * MINUTE, relays=[])
    assert to(address, outbox)[1:] == [f"Resolved: {machine['name']} is offline."]

    sent = await history(client, operator)
    assert [(e["action"], e["delivery"]) for e in sent] == [
        ("resolve", "queued: e-mail"),
        ("fire", "queued: e-mail"),
    ]


async def test_a_machine_long_silent_reads_as_over_the_window_looked_at(
    server, client, operator, outbox
):
    address = await with_email(operator)
    machine = await register(client, operator, Atm(server))
    await put_settings(
        client,
        operator,
        only("machine_offline", offline_after_min=15, hold_down_min=0, repeat_hours=0),
    )
    # Its only request (pairing) is older than the threshold and an hour: the RPC
    # log is read no further back than that.
    await services.evaluate_alerts(at=machine["created_at"] + 200 * MINUTE, relays=[])
    (fired,) = to(address, outbox)
    assert fired == (
        f"{machine['name']} is offline: no beacon nor request for over 75 min."
    )


async def test_cash_running_low_is_one_alert_per_machine(
    server, client, operator, outbox
):
    address = await with_email(operator)
    atm = Atm(server)
    machine = await register(client, operator, atm)
    client.cookies.clear()
    await client.put(
        f"{API}/machines/{machine['id']}/cassettes",
        json={"cassettes": [{"position": "1", "denomination": "100", "capacity": 500}]},
        headers=operator.headers,
    )
    await atm.call(
        "report_cash",
        {"report_id": "r1", "positions": {"1": {"denomination": "100", "count": 20}}},
    )
    await put_settings(client, operator, only("cash_low", cassette_low_percent=5))
    await services.evaluate_alerts(relays=[])  # 20 of 500 is 4 %: low
    await services.evaluate_alerts(relays=[])
    assert to(address, outbox) == [
        f"{machine['name']} is low on cash: cassette 1 (100.00): about 20 bills, "
        "empty in ? days."
    ]


async def test_a_relay_down_is_the_super_users(client, super_user, outbox):
    address = await with_email(super_user)
    await put_settings(
        client, super_user, only("relay_down", relay_down_after_min=10, hold_down_min=0)
    )
    down = [{"url": "wss://relay.example", "connected": False, "last_error": "refused"}]
    up = [{**down[0], "connected": True}]
    at = 10**9
    await services.evaluate_alerts(at=at, relays=down)
    await services.evaluate_alerts(at=at + 9 * MINUTE, relays=down)
    assert to(address, outbox) == []
    await services.evaluate_alerts(at=at + 10 * MINUTE, relays=down)
    await services.evaluate_alerts(at=at + 11 * MINUTE, relays=up)
    assert to(address, outbox) == [
        "Relay wss://relay.example is down: refused.",
        "Resolved: Relay wss://relay.example is down.",
    ]
    await put_settings(client, super_user, {"enabled": False})


async def test_of_two_evaluations_racing_only_one_sends(
    server, client, operator, outbox, monkeypatch
):
    address = await with_email(operator)
    machine = await register(client, operator, Atm(server))
    await put_settings(client, operator, only("machine_offline"))
    # Both read the alert's state before either writes, as two processes may.
    read = crud.get_alert_state
    readers: list[int] = []
    both_read = asyncio.Event()

    async def read_together(**kw):
        state = await read(**kw)
        readers.append(1)
        if len(readers) % 2 == 0:
            both_read.set()
        await both_read.wait()
        return state

    monkeypatch.setattr(crud, "get_alert_state", read_together)
    at = machine["created_at"] + 60 * MINUTE
    observation = services.Observation(
        kind="machine_offline",
        subject=machine["id"],
        condition=True,
        title="Lobby is offline",
        detail="no beacon nor request for 60 min",
        timing=Timing(),
    )
    sent = await asyncio.gather(
        services.advance(operator.id, observation, at),
        services.advance(operator.id, observation, at),
    )
    assert sorted(str(s) for s in sent) == ["Action.fire", "None"]
    assert len(to(address, outbox)) == 1
    # And over a stored state: the version read guards the change.
    both_read.clear()
    back = services.Observation(**{**vars(observation), "condition": False})
    sent = await asyncio.gather(
        services.advance(operator.id, back, at + MINUTE),
        services.advance(operator.id, back, at + MINUTE),
    )
    assert sorted(str(s) for s in sent) == ["Action.resolve", "None"]
    assert len(to(address, outbox)) == 2
    assert [e["action"] for e in await history(client, operator)] == [
        "resolve",
        "fire",
    ]


async def test_a_pairing_used_is_announced_once(server, client, operator, outbox):
    address = await with_email(operator)
    machine = await register(client, operator, Atm(server))
    await put_settings(client, operator, only("pairing_used", repeat_hours=1))
    at = machine["created_at"]
    for minutes in (1, 2, 61, 90, 200):
        await services.evaluate_alerts(at=at + minutes * MINUTE, relays=[])
    assert to(address, outbox) == [
        f"A machine paired as {machine['name']}: with a pairing code of your account."
    ]
    client.cookies.clear()
    active = await client.get(f"{API}/alerts/active", headers=operator.headers)
    assert active.json() == []


async def test_a_fee_mismatch_alerts_while_recent(
    client, operator, outbox, monkeypatch
):
    address = await with_email(operator)
    await put_settings(client, operator, only("fee_mismatch", hold_down_min=0))
    mismatches = {"n": 2}

    async def count(**kw):
        return mismatches["n"] if kw["operator_id"] == operator.id else 0

    monkeypatch.setattr(crud, "count_fee_mismatches_since", count)
    await services.evaluate_alerts(at=10**9, relays=[])
    mismatches["n"] = 0
    await services.evaluate_alerts(at=10**9 + 3600, relays=[])
    assert to(address, outbox) == [
        "A fee differed from the machine's schedule: 2 settlements in the last hour.",
        "Resolved: A fee differed from the machine's schedule.",
    ]


async def test_a_disabled_machine_ends_its_alerts(server, client, operator, outbox):
    address = await with_email(operator)
    machine = await register(client, operator, Atm(server))
    await put_settings(client, operator, only("machine_offline", hold_down_min=0))
    at = machine["created_at"] + 60 * MINUTE
    await services.evaluate_alerts(at=at, relays=[])
    client.cookies.clear()
    disabled = await client.patch(
        f"{API}/machines/{machine['id']}",
        json={"status": "disabled"},
        headers=operator.headers,
    )
    assert disabled.status_code == 200, disabled.text
    await services.evaluate_alerts(at=at + MINUTE, relays=[])
    assert [text.split(":")[0] for text in to(address, outbox)] == [
        f"{machine['name']} is offline",
        "Resolved",
    ]


async def test_the_super_user_hears_of_fee_mismatches_on_the_whole_instance(
    client, super_user, operator, outbox, monkeypatch
):
    address = await with_email(super_user)
    await put_settings(client, super_user, only("fee_mismatch", hold_down_min=0))
    asked: list[str | None] = []

    async def count(**kw):
        asked.append(kw["operator_id"])
        return 3 if kw["operator_id"] is None else 0

    monkeypatch.setattr(crud, "count_fee_mismatches_since", count)
    await services.evaluate_alerts(at=10**9, relays=[])
    assert None in asked
    assert to(address, outbox) == [
        "Fees differed from their schedules on this instance: 3 settlements of all "
        "operators in the last hour."
    ]
    await put_settings(client, super_user, {"enabled": False})


async def test_fee_mismatches_are_counted_per_operator_or_instance(operator):
    from satmachineadmin.database import db

    everyone = await crud.count_fee_mismatches_since(operator_id=None, since=0)
    mine = await crud.count_fee_mismatches_since(operator_id=operator.id, since=0)
    assert mine == 0 and everyone >= 0
    row: dict = await db.fetchone(
        "SELECT COUNT(*) AS n FROM satmachineadmin.settlements "
        "WHERE fee_mismatch_sats <> 0",
        {},
    )
    assert everyone == row["n"]


async def test_the_history_keeps_a_year(server, client, operator, outbox):
    await with_email(operator)
    machine = await register(client, operator, Atm(server))
    await put_settings(
        client, operator, only("machine_offline", hold_down_min=0, repeat_hours=0)
    )
    fired_at = machine["created_at"] + 200 * MINUTE
    await services.evaluate_alerts(at=fired_at, relays=[])
    assert len(await history(client, operator)) == 1
    await services.forget_old_alerts(at=fired_at + 364 * 86400)
    assert len(await history(client, operator)) == 1
    await services.forget_old_alerts(at=fired_at + 366 * 86400)
    assert await history(client, operator) == []

"""Alerts delivered for real: LNbits' own e-mail notifications, configured
against an SMTP server on 127.0.0.1, send exactly one e-mail when a machine
goes offline and exactly one "resolved" when it is back."""

from __future__ import annotations

import uuid

import pytest
from in_process_rpc import Atm, register
from smtp_sink import SmtpSink

from helpers import API, wait_until
from satmachineadmin import services
from satmachineadmin.rpc import beacons

MINUTE = 60


@pytest.fixture
async def smtp(monkeypatch):
    from lnbits.settings import settings

    async with SmtpSink() as sink:
        for name, value in (
            ("lnbits_email_notifications_enabled", True),
            ("lnbits_email_notifications_server", "127.0.0.1"),
            ("lnbits_email_notifications_port", sink.port),
            ("lnbits_email_notifications_username", "alerts"),
            ("lnbits_email_notifications_password", "not-checked"),
            ("lnbits_email_notifications_email", "alerts@example.com"),
        ):
            monkeypatch.setattr(settings, name, value)
        yield sink


async def test_one_email_when_offline_and_one_when_back(server, client, operator, smtp):
    from lnbits.core.crud import get_account, update_account

    account = await get_account(operator.id)
    assert account is not None
    address = f"op-{uuid.uuid4().hex[:8]}@example.com"
    account.extra.notifications.email_address = address
    await update_account(account)
    machine = await register(client, operator, Atm(server))
    client.cookies.clear()
    saved = await client.put(
        f"{API}/alerts/settings",
        json={
            "enabled": True,
            "cash_low": False,
            "payouts_failing": False,
            "pairing_used": False,
            "offline_after_min": 15,
            "hold_down_min": 5,
            "repeat_hours": 0,
        },
        headers=operator.headers,
    )
    assert saved.status_code == 200, saved.text

    offline = machine["created_at"] + 30 * MINUTE
    for minutes in (0, 1, 2):
        await services.evaluate_alerts(at=offline + minutes * MINUTE, relays=[])
    (sent,) = await wait_until(lambda: smtp.to(address), what="the alert e-mail")
    assert f"{machine['name']} is offline" in sent.get_payload()[0].get_payload()
    assert smtp.logins[-1] == "alerts"

    back = offline + 10 * MINUTE
    await beacons.record_beacon(
        machine_id=machine["id"],
        d_tag="bitspire-beacon",
        event_id=uuid.uuid4().hex * 2,
        created_at=back + 10 * MINUTE,
        content="{}",
        offline_after_s=300,
    )
    for minutes in (0, 6, 7):
        await services.evaluate_alerts(at=back + minutes * MINUTE, relays=[])
    await wait_until(lambda: len(smtp.to(address)) == 2, what="the resolved e-mail")
    resolved = smtp.to(address)[1].get_payload()[0].get_payload()
    assert f"Resolved: {machine['name']} is offline." in resolved
    for minutes in (8, 20):  # and nothing more
        await services.evaluate_alerts(at=back + minutes * MINUTE, relays=[])
    client.cookies.clear()
    sent_log = await client.get(f"{API}/alerts", headers=operator.headers)
    assert [e["delivery"] for e in sent_log.json()] == ["queued: e-mail"] * 2
    assert len(smtp.to(address)) == 2

"""Two LNbits processes on one PostgreSQL database both evaluate alerts (every
second here): each alert still reaches the operator once, as one e-mail through
LNbits' own notifications, whichever process wins it.

Two kinds are checked: a machine paired (an announcement, written once under a
unique key) and a fee other than the schedule's (a condition, each change of its
state written only over the version it was read at).

PostgreSQL only (two processes on one SQLite file is not a supported LNbits
set-up): it runs when SATMACHINEADMIN_TEST_DATABASE_URL is set, as `make
test-postgres` does.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from contextlib import AsyncExitStack

import httpx
import pytest
from lnbits_api import (
    API,
    add_machine_through_a_relay,
    call,
    first_install,
    register,
)
from lnbits_process import LnbitsProcess, fresh_postgres_database
from smtp_sink import SmtpSink

PG_URL_ENV = "SATMACHINEADMIN_TEST_DATABASE_URL"
EVERY_S = {"SATMACHINEADMIN_ALERTS_EVERY_S": "1"}
# Both processes evaluate this many more times after the first e-mail.
SETTLE_S = 8.0

pytestmark = pytest.mark.slow


async def wait_for_mail(sink: SmtpSink, address: str, count: int) -> None:
    for _ in range(600):
        if len(sink.to(address)) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{count} e-mail(s) to {address} never arrived")


def subjects(sink: SmtpSink, address: str) -> list[str]:
    return [m.get_payload()[0].get_payload() for m in sink.to(address)]


async def e_mail_settings(http: httpx.AsyncClient, admin, sink: SmtpSink) -> None:
    """The LNbits admin's e-mail notifications, against the test's SMTP server."""
    await call(
        http,
        "PATCH",
        "/admin/api/v1/settings",
        token=admin.token,
        body={
            "lnbits_email_notifications_enabled": True,
            "lnbits_email_notifications_server": "127.0.0.1",
            "lnbits_email_notifications_port": sink.port,
            "lnbits_email_notifications_username": "alerts",
            "lnbits_email_notifications_password": "not-checked",
            "lnbits_email_notifications_email": "alerts@example.com",
        },
    )


async def operator_with_alerts(http: httpx.AsyncClient, address: str):
    """An operator whose LNbits account sends to ``address``, with only the two
    kinds under test turned on and no hold-down."""
    operator = await register(http, "op")
    await call(
        http,
        "PATCH",
        "/api/v1/auth",
        token=operator.token,
        body={
            "user_id": operator.id,
            "username": operator.username,
            "extra": {"notifications": {"email_address": address}},
        },
    )
    await call(
        http,
        "PUT",
        f"{API}/alerts/settings",
        token=operator.token,
        body={
            "enabled": True,
            "machine_offline": False,
            "cash_low": False,
            "payouts_failing": False,
            "relay_down": False,
            "pairing_used": True,
            "fee_mismatch": True,
            "hold_down_min": 0,
            "repeat_hours": 0,
        },
    )
    return operator


async def test_two_processes_send_each_alert_once():
    server = os.environ.get(PG_URL_ENV)
    if not server:
        pytest.skip(f"PostgreSQL only: {PG_URL_ENV} is not set")
    shared_key = uuid.uuid4().hex
    address = f"op-{uuid.uuid4().hex[:8]}@example.com"
    async with AsyncExitStack() as stack:
        sink = await stack.enter_async_context(SmtpSink())
        url = await stack.enter_async_context(
            fresh_postgres_database(server, prefix="satmachineadmin_alerts")
        )
        a = await stack.enter_async_context(
            LnbitsProcess(
                database_url=url,
                name="alerts-a",
                auth_secret_key=shared_key,
                extra_env=EVERY_S,
            )
        )
        http_a = await stack.enter_async_context(
            httpx.AsyncClient(base_url=a.url, timeout=30)
        )
        admin = await first_install(http_a)
        # B reads the e-mail settings A stored when it starts.
        await e_mail_settings(http_a, admin, sink)
        b = await stack.enter_async_context(
            LnbitsProcess(
                database_url=url,
                name="alerts-b",
                auth_secret_key=shared_key,
                extra_env=EVERY_S,
            )
        )
        await call(
            http_a,
            "PUT",
            f"{API}/super/config",
            token=admin.token,
            body={"cash_out_fee_bps": 3000, "super_wallet_id": admin.wallet_id},
        )
        operator = await operator_with_alerts(http_a, address)

        machine = await add_machine_through_a_relay(
            http_a, admin, operator, {"name": "Twin ATM", "fiat_code": "GTQ"}
        )
        await wait_for_mail(sink, address, 1)
        await asyncio.sleep(SETTLE_S)
        (paired,) = subjects(sink, address)
        assert "A machine paired" in paired

        # A fee the operator gives instead of the schedule's (0 sats): recorded.
        await call(
            http_a,
            "POST",
            f"{API}/settlements/manual",
            token=operator.token,
            body={
                "machine_id": machine["id"],
                "direction": "cash_out",
                "principal_sats": 2000,
                "fee_sats": 100,
                "fee_override_reason": "agreed with the customer",
                "fiat_amount": "10.00",
                "fiat_code": "GTQ",
                "exchange_rate": "500000.00",
                "tx_id": f"twin-{uuid.uuid4().hex[:8]}",
            },
        )
        await wait_for_mail(sink, address, 2)
        await asyncio.sleep(SETTLE_S)
        mails = subjects(sink, address)
        assert len(mails) == 2, mails
        assert "fee differed" in mails[1]
        history = await call(
            http_a, "GET", f"{API}/alerts?limit=50", token=operator.token
        )
        assert sorted(event["kind"] for event in history) == [
            "fee_mismatch",
            "pairing_used",
        ]
        for process in (a, b):
            assert process.running, process.log_text()[-2000:]

"""Notices over LNbits' websocket in Chromium: with the polls slowed to ten minutes,
a settlement recorded elsewhere still shows up on the operator's page at once, and
the page listens on the operator's own channel only."""

from __future__ import annotations

import pytest
import pytest_asyncio
from browser_site import (  # noqa: F401 (fixtures)
    API,
    EXT_ID,
    BrowserSite,
    notice_only_page,
    site,
    site_config_for_module,
)
from playwright.async_api import expect
from super_config import SuperConfigSetter

from helpers import cash_out_body

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DASHBOARD = f"/{EXT_ID}/"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def platform_fee(
    site: BrowserSite,  # noqa: F811
    site_config_for_module: SuperConfigSetter,  # noqa: F811
) -> None:
    await site_config_for_module.set(
        {
            "cash_out_fee_bps": 3000,
            "cash_in_fee_bps": 1000,
            "fee_basis": "commission",
            "super_wallet_id": site.super.wallet_id,
        }
    )


async def test_a_new_settlement_arrives_by_notice_not_by_poll(
    site: BrowserSite,  # noqa: F811
    platform_fee: None,
):
    operator = await site.new_account("operator")
    machine = await site.add_machine(operator, {"name": "Hall ATM", "fiat_code": "GTQ"})
    noticed = await notice_only_page(site, operator)
    page, channel = noticed.page, noticed.channel
    async with page.expect_websocket(
        lambda socket: socket.url.endswith(f"/api/v1/ws/{channel}")
    ) as opened:
        await page.goto(f"{site.url}{DASHBOARD}")
    socket = await opened.value
    assert not socket.is_closed()
    await page.get_by_role("tab", name="Settlements").click()
    settlements = page.locator('[data-test="settlements-table"]')
    await expect(settlements).to_be_visible()
    await noticed.caught_up()

    notices: list[str] = []
    socket.on("framereceived", lambda frame: notices.append(str(frame)))
    await site.api(
        "PUT",
        "/users/api/v1/balance",
        account=site.super,
        body={"id": machine["wallet_id"], "amount": 210_000},
    )
    await site.api(
        "POST",
        f"{API}/settlements/manual",
        account=operator,
        body=cash_out_body(machine["id"], tx_id="told-by-notice"),
    )
    await expect(
        settlements.locator("tbody tr").filter(has_text="told-by-notice")
    ).to_be_visible(timeout=15_000)
    assert any("settlements" in notice for notice in notices), notices
    # A notice names what changed, nothing more.
    assert all("told-by-notice" not in notice for notice in notices), notices
    assert page.console_errors == []

"""The cash panel of a machine in Chromium, against a real LNbits: the operator
sets the cassettes (a refusal shown in words), the machine reports its count
over the relay, the operator sees the count, the estimate, the cashbox and the
reconciliation, records a refill and adds a note."""

from __future__ import annotations

import re

import pytest
import pytest_asyncio
from browser_site import (  # noqa: F401 (fixtures)
    API,
    EXT_ID,
    BrowserSite,
    site,
    site_config_for_module,
    skip_or_fail_without_browser,
)
from super_config import SuperConfigSetter

from helpers import load_simulator

pytestmark = [pytest.mark.browser, pytest.mark.slow]
skip_or_fail_without_browser(module=True)

from playwright.async_api import Page, expect  # noqa: E402


def marked(page: Page, name: str):
    return page.locator(f'[data-test="{name}"]')


def field(page: Page, name: str):
    """A Quasar input marked data-test=name (on its native input)."""
    return page.locator(f'input[data-test="{name}"], textarea[data-test="{name}"]')


async def notification(page: Page, pattern: str) -> None:
    await expect(
        page.locator(".q-notification").filter(has_text=re.compile(pattern))
    ).to_be_visible()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def configured(
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


async def open_cash_panel(page: Page) -> None:
    await page.get_by_role("tab", name="Machines").click()
    await marked(page, "machine-cash-open").first.click()
    await expect(marked(page, "machine-cash")).to_be_visible()


async def test_operator_sets_cassettes_sees_the_count_and_records_a_refill(
    site: BrowserSite,  # noqa: F811
    configured: None,
):
    from nostr_sdk import Keys

    operator = await site.new_account("cash")
    keys = Keys.generate()
    expected = await site.api(
        "POST",
        f"{API}/machines",
        account=operator,
        body={
            "npub": keys.public_key().to_bech32(),
            "name": "Lobby",
            "fiat_code": "GTQ",
        },
    )
    atm, token = load_simulator().BitspireSimulator.from_seed_url(
        expected["seed_url"],
        secret_key=keys.secret_key().to_hex(),
        timeout=30.0,
        log=lambda _: None,
    )
    async with atm:
        await atm.pair(token)
        page = await site.page_for(operator)
        await page.goto(f"{site.url}/{EXT_ID}/")
        await open_cash_panel(page)
        await expect(marked(page, "cash-counts")).to_contain_text("No counts yet")

        # A capacity out of range, and a cassette left blank, are refused by the
        # form on the field, in words; nothing is sent.
        panel = marked(page, "machine-cash")
        await field(page, "cassette-denomination-1").fill("100")
        for typed in ("0", "-5", "1e30"):
            await field(page, "cassette-capacity-1").fill(typed)
            await marked(page, "cassettes-save").click()
            await expect(
                panel.get_by_text("A whole number from 1 to 100000")
            ).to_be_visible()
        await marked(page, "cassette-add").click()
        await marked(page, "cassettes-save").click()
        await expect(panel.get_by_text("Required")).to_have_count(2)
        await marked(page, "cassette-remove-2").click()

        await field(page, "cassette-capacity-1").fill("500")
        await marked(page, "cassette-add").click()
        await field(page, "cassette-denomination-2").fill("50")
        await field(page, "cassette-capacity-2").fill("300")
        await field(page, "cashbox-capacity").fill("1000")
        await marked(page, "cassettes-save").click()
        await notification(page, "Cassettes saved")
        await expect(marked(page, "cash-version")).to_contain_text("version 1")
        await expect(marked(page, "cassette-2")).to_contain_text("50.00 GTQ")

        # The machine reads its cassettes and reports its count over the relay.
        sent = await atm.call("get_cassettes")
        assert sent["result"]["positions"]["1"]["capacity"] == 500
        reported = await atm.call(
            "report_cash",
            {
                "report_id": "count-1",
                "positions": {
                    "1": {"denomination": "100", "count": 372},
                    "2": {"denomination": "50", "count": 100},
                },
                "cashbox": {"count": 120, "fiat": "6000.00"},
            },
        )
        assert reported["result"] == {"recorded": True}

        await marked(page, "cash-close").click()  # a button, as well as Esc
        await expect(marked(page, "machine-cash")).to_have_count(0)
        await open_cash_panel(page)
        first = marked(page, "cassette-1")
        await expect(first).to_contain_text("372")
        await expect(first).to_contain_text("37,200.00 GTQ")
        await expect(marked(page, "cash-totals")).to_contain_text("42,200.00 GTQ")
        await expect(marked(page, "cashbox")).to_contain_text(
            "120 bills of 1000 (12 % full), 6,000.00 GTQ"
        )
        counts = marked(page, "cash-counts")
        await expect(counts).to_contain_text("reported by the machine")
        await expect(counts).to_contain_text("cassette 1: 372 counted, 0 estimated")
        await site.screenshot(page, "operator-cash-reported")

        # A refill: two bills fewer found than the machine reported (a negative
        # count is refused on its field first).
        await field(page, "refill-found-1").fill("-3")
        await marked(page, "refill-save").click()
        await expect(
            panel.get_by_text("A whole number from 0 to 1000000")
        ).to_be_visible()
        await field(page, "refill-found-1").fill("370")
        await field(page, "refill-loaded-1").fill("500")
        await field(page, "refill-loaded-2").fill("300")
        await field(page, "refill-cashbox-count").fill("120")
        await marked(page, "refill-save").click()
        await notification(page, "Refill recorded")
        await expect(counts).to_contain_text(
            "cassette 1: 370 counted, 372 estimated (-2)"
        )
        await expect(marked(page, "cashbox")).to_contain_text("0 bills of 1000")
        await expect(marked(page, "cashbox")).to_contain_text("batch 2")
        await expect(first).to_contain_text("500 (100 %)")
        assert (await atm.call("get_cassettes"))["result"]["version"] == 2

        await field(page, "note-text").fill("refilled, jammed bill in cassette 2")
        await marked(page, "note-add").click()
        notes = marked(page, "notes")
        await expect(notes).to_contain_text("refilled, jammed bill in cassette 2")
        await expect(notes).to_contain_text(operator.username)
        await site.screenshot(page, "operator-cash-refilled")

    assert page.console_errors == []  # the forms refused; nothing was sent


async def test_operator_chooses_alerts_and_sees_them_refused_in_words(
    site: BrowserSite,  # noqa: F811
    configured: None,
):
    operator = await site.new_account("alerts")
    page = await site.page_for(operator)
    await page.goto(f"{site.url}/{EXT_ID}/")
    await page.get_by_role("tab", name="Alerts").click()
    panel = marked(page, "alert-settings")
    await expect(marked(page, "alerts-active")).to_have_text("All quiet")
    await expect(marked(page, "alerts-sent")).to_contain_text("Nothing sent yet")

    # Out of range, negative, a fraction, blank: the field itself says what it
    # takes, and nothing is sent.
    for typed in ("0", "-5", "0.5", "1e30"):
        await field(page, "alert-offline_after_min").fill(typed)
        await marked(page, "alerts-save").click()
        await expect(panel.get_by_text("A whole number from 1 to 1440")).to_be_visible()
    await field(page, "alert-offline_after_min").fill("")
    await marked(page, "alerts-save").click()
    await expect(panel.get_by_text("Required")).to_be_visible()
    await field(page, "alert-hold_down_min").fill("1441")
    await marked(page, "alerts-save").click()
    await expect(panel.get_by_text("A whole number from 0 to 1440")).to_be_visible()
    await field(page, "alert-hold_down_min").fill("10")

    await marked(page, "alerts-enabled").click()
    await marked(page, "alert-kind-payouts_failing").click()
    await field(page, "alert-offline_after_min").fill("5")
    await field(page, "alert-repeat_hours").fill("0")
    await marked(page, "alerts-save").click()
    await notification(page, "Alert settings saved")
    saved = await site.api("GET", f"{API}/alerts/settings", account=operator)
    assert saved["enabled"] is True and saved["payouts_failing"] is False
    assert saved["offline_after_min"] == 5 and saved["repeat_hours"] == 0
    await site.screenshot(page, "operator-alerts")
    await expect(panel).to_be_visible()

    assert page.console_errors == []  # the form refused; nothing was sent

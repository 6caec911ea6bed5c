"""The super user's and the liquidity provider's pages, in headless Chromium against
a real LNbits (tests/support/browser_site.py).

The super user logs in through LNbits' own login form, sets the cash-out fee, the fee
wallet and the relays through the page's forms and sees them saved (after a reload,
and through the API); the forms refuse out-of-bounds input before sending, and show
the API's refusal when it comes. An operator is refused the super page. An LP whose
operator recorded two cash-outs sees the distributions with their cost basis, the
cumulative chart, exports them as CSV and sets an auto-forward address; the chart
comes with the distributions, and a payout's notice gives it the new figures in
place.

Every page is screenshotted (tests/artifacts/browser/) and must log no console error
other than the ones a test expects by name.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from browser_site import (
    API,
    Account,
    BrowserSite,
    held_back,
    site,  # noqa: F401
    site_config,  # noqa: F401
    skip_or_fail_without_browser,
)
from lnbits_process import free_port
from super_config import SuperConfigSetter

pytestmark = [pytest.mark.browser, pytest.mark.slow]
skip_or_fail_without_browser(module=True)

from playwright.async_api import Page, Request, expect  # noqa: E402

SUPER_PAGE = "/satmachineadmin/super"
LP_PAGE = "/satmachineadmin/lp"
BPS_ERROR = "A whole number of basis points from 0 to 10000 (100 %)"
NOT_SAVED = "Not saved: correct the highlighted fields first."


def failed_resource(site: BrowserSite, path: str, status: int, reason: str) -> str:  # noqa: F811
    """How page.console_errors records Chromium's line for a refused request."""
    return (
        "console.error: Failed to load resource: the server responded with a "
        f"status of {status} ({reason}) ({site.url}{path}:0)"
    )


def record_requests(page: Page, path: str) -> list[str]:
    """The methods of every request the page sends to ``path`` from now on."""
    sent: list[str] = []

    def on_request(request: Request) -> None:
        if request.url.split("?")[0].endswith(path):
            sent.append(request.method)

    page.on("request", on_request)
    return sent


def notification(page: Page, text: str):
    return page.locator(".q-notification").filter(has_text=text)


async def open_super_page(site: BrowserSite, page: Page) -> None:  # noqa: F811
    await page.goto(f"{site.url}{SUPER_PAGE}")
    # The forms are filled once the config has loaded.
    await expect(page.get_by_test_id("server-npub")).to_contain_text("npub1")


async def test_super_user_sets_fee_and_relays_through_the_forms(
    site,  # noqa: F811
    site_config,  # noqa: F811
):
    wallet = site.super.wallets[0]
    dead_relay = f"ws://127.0.0.1:{free_port()}"
    await site_config.set(
        {"cash_out_fee_bps": 0, "super_wallet_id": None, "relays": [dead_relay]}
    )

    page = await site.page_for(site.super, login_form=True)
    await open_super_page(site, page)
    fee = page.get_by_label("Cash-out fee (bps)", exact=True)
    relay = page.get_by_label("Relay 1", exact=True)
    await expect(fee).to_have_value("0")
    await expect(relay).to_have_value(dead_relay)
    status = page.get_by_test_id("relay-status")
    await expect(status).to_contain_text(dead_relay)
    await expect(status).to_contain_text("down")

    await fee.fill("250")
    await expect(page.get_by_text("= 2.50 % of the commission")).to_be_visible()
    await page.get_by_label("Fee wallet", exact=True).click()
    await page.get_by_role("option", name=wallet["name"]).click()
    async with page.expect_response(
        lambda r: r.url.endswith("/super/config") and r.request.method == "PUT"
    ) as answer:
        await page.get_by_role("button", name="Save fee").click()
    assert (await answer.value).status == 200
    await expect(notification(page, "Platform fee saved")).to_be_visible()

    await relay.fill(site.relay_url)
    async with page.expect_response(
        lambda r: r.url.endswith("/super/config") and r.request.method == "PUT"
    ) as answer:
        await page.get_by_role("button", name="Save relays").click()
    assert (await answer.value).status == 200
    await expect(notification(page, "Relays saved")).to_be_visible()
    # The server follows the new list: the real relay connects, the dead one goes.
    await expect(status).to_contain_text(site.relay_url, timeout=15_000)
    await expect(status).to_contain_text("connected")
    await expect(status).not_to_contain_text(dead_relay)
    await site.screenshot(page, "super-saved")

    await page.reload()
    await expect(page.get_by_test_id("server-npub")).to_contain_text("npub1")
    await expect(page.get_by_label("Cash-out fee (bps)", exact=True)).to_have_value(
        "250"
    )
    await expect(page.get_by_label("Cash-in fee (bps)", exact=True)).to_have_value("0")
    await expect(page.get_by_label("Relay 1", exact=True)).to_have_value(site.relay_url)
    await expect(page.get_by_label("Relay 2", exact=True)).to_have_count(0)
    await expect(page.get_by_test_id("fee-form")).to_contain_text(wallet["name"])

    config = await site.api("GET", f"{API}/super/config", account=site.super)
    assert config["cash_out_fee_bps"] == 250
    assert config["cash_in_fee_bps"] == 0
    assert config["cash_out_fee_basis"] == "commission"
    assert config["super_wallet_id"] == wallet["id"]
    assert config["relays"] == [site.relay_url]
    assert page.console_errors == []


async def test_super_forms_refuse_bad_input_and_show_api_refusals(
    site,  # noqa: F811
    site_config,  # noqa: F811
):
    wallet_id = site.super.wallet_id
    body = {"cash_out_fee_bps": 250, "super_wallet_id": wallet_id}
    await site_config.set(body)
    before = await site.api("GET", f"{API}/super/config", account=site.super)

    page = await site.page_for(site.super)
    sent = record_requests(page, "/super/config")
    await open_super_page(site, page)

    # Client-side: out of models.SuperConfigUpdate's bounds, nothing is sent.
    await page.get_by_label("Cash-out fee (bps)", exact=True).fill("10001")
    await expect(page.get_by_text(BPS_ERROR)).to_be_visible()
    await page.get_by_role("button", name="Save fee").click()
    await expect(notification(page, NOT_SAVED)).to_be_visible()

    await page.get_by_label("Clock tolerance", exact=True).fill("5")
    await expect(page.get_by_text("A whole number from 10 to 3600")).to_be_visible()
    await page.get_by_role("button", name="Save tolerances").click()

    await page.get_by_label("Relay 1", exact=True).fill("https://relay.example.com")
    await expect(
        page.get_by_text("A relay URL starting with ws:// or wss://")
    ).to_be_visible()
    await page.get_by_role("button", name="Save relays").click()
    await expect(notification(page, NOT_SAVED).first).to_be_visible()
    await site.screenshot(page, "super-client-refusals")
    assert sent == ["GET"], f"an invalid form was sent: {sent}"

    # The API's refusal: a fee with no wallet to pay it into.
    await page.get_by_label("Cash-out fee (bps)", exact=True).fill("300")
    await expect(page.get_by_text(BPS_ERROR)).to_have_count(0)
    await page.get_by_label("Fee wallet", exact=True).click()
    await page.get_by_role("option", name="No fee wallet").click()
    async with page.expect_response(
        lambda r: r.url.endswith("/super/config") and r.request.method == "PUT"
    ) as answer:
        await page.get_by_role("button", name="Save fee").click()
    assert (await answer.value).status == 400
    refusal = notification(page, "choose the wallet the platform fee is paid into")
    await expect(refusal).to_be_visible()
    # The user's words only: no HTTP status line, no field name.
    await expect(refusal).not_to_contain_text(re.compile("BAD REQUEST|400|_id"))
    await site.screenshot(page, "super-api-refusal")

    assert await site.api("GET", f"{API}/super/config", account=site.super) == before
    # Chromium logs the refused PUT itself; nothing else may be logged.
    assert page.console_errors == [
        failed_resource(site, f"{API}/super/config", 400, "Bad Request")
    ]


async def test_super_rotates_the_server_key_after_confirming(site):  # noqa: F811
    before = await site.api("GET", f"{API}/super/config", account=site.super)
    page = await site.page_for(site.super)
    await open_super_page(site, page)
    npub = page.get_by_test_id("server-npub")
    await expect(npub).to_have_text(before["server_npub"])

    await page.get_by_role("button", name="Rotate").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Rotate the server key?")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_have_count(0)
    assert (await site.api("GET", f"{API}/super/config", account=site.super))[
        "server_npub"
    ] == before["server_npub"]

    await page.get_by_role("button", name="Rotate").click()
    await page.get_by_role("dialog").get_by_role("button", name="OK").click()
    await expect(notification(page, "New server key")).to_be_visible()
    await expect(npub).not_to_have_text(before["server_npub"])
    after = await site.api("GET", f"{API}/super/config", account=site.super)
    assert after["server_npub"] != before["server_npub"]
    await expect(npub).to_have_text(after["server_npub"])
    await site.screenshot(page, "super-rotated")
    assert page.console_errors == []


async def test_operator_is_refused_the_super_page(site):  # noqa: F811
    operator = await site.new_account("op")
    page = await site.page_for(operator)
    response = await page.goto(f"{site.url}{SUPER_PAGE}")
    assert response is not None and response.status == 403
    await expect(page.get_by_text("No admin privileges")).to_be_visible()
    await expect(page.get_by_test_id("super-page")).to_have_count(0)
    await site.screenshot(page, "super-refused-operator")
    assert page.console_errors == [failed_resource(site, SUPER_PAGE, 403, "Forbidden")]


# --- the liquidity provider ----------------------------------------------------------


# Two cash-outs in GTQ, both paid out of the LP's 1,100.00 GTQ deposit.
def grouped(rate: str) -> str:
    value = Decimal(rate)
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,}"


CASH_OUTS = [
    # principal sats, fee sats, fiat, rate; cost basis (GTQ/BTC), sats per GTQ
    (2000, 100, "10.00", "500000.00", "500000.00", "200.00"),
    (3000, 150, "20.00", "666666.67", "666666.67", "150.00"),
]
DEPOSIT = "1100.00"


async def wait_until_paid(site: BrowserSite, lp: Account, count: int) -> list[dict]:  # noqa: F811
    deadline = time.monotonic() + 60
    while True:
        rows = await site.api("GET", f"{API}/lp/distributions", account=lp)
        if len(rows) == count and all(row["status"] == "paid" for row in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"LP legs not paid within 60 s: {rows}")
        await asyncio.sleep(0.5)


async def business_with_an_lp(
    site: BrowserSite,  # noqa: F811
    config: SuperConfigSetter,
) -> dict[str, Any]:
    """An operator with a GTQ machine, an enrolled LP with a confirmed deposit,
    and two manual cash-out settlements, all through the API."""
    await config.set(
        {
            "cash_out_fee_bps": 3000,
            "fee_basis": "commission",
            "super_wallet_id": site.super.wallet_id,
        }
    )
    operator = await site.new_account("op")
    lp = await site.new_account("lp")
    machine = await site.add_machine(
        operator, {"name": "Lobby ATM", "fiat_code": "GTQ"}
    )
    enrolment = await site.enrol_lp(operator, lp)
    await site.confirmed_deposit(operator, enrolment["id"], DEPOSIT)
    await site.api(
        "PUT",
        "/users/api/v1/balance",
        account=site.super,
        body={"id": machine["wallet_id"], "amount": 10_000},
    )
    settlements = []
    for index, (principal, fee, amount, rate, *_) in enumerate(CASH_OUTS):
        if index:
            await asyncio.sleep(1.1)  # distinct seconds: a defined order in time
        settlements.append(
            await site.api(
                "POST",
                f"{API}/settlements/manual",
                account=operator,
                body={
                    "machine_id": machine["id"],
                    "direction": "cash_out",
                    "principal_sats": principal,
                    "fee_sats": fee,
                    "fee_override_reason": "commission agreed with the customer",
                    "fiat_amount": amount,
                    "fiat_code": "GTQ",
                    "exchange_rate": rate,
                    "tx_id": f"tx-{uuid.uuid4().hex[:12]}",
                },
            )
        )
    distributions = await wait_until_paid(site, lp, len(CASH_OUTS))
    return {
        "operator": operator,
        "lp": lp,
        "enrolment": enrolment,
        "settlements": settlements,
        "distributions": distributions,
    }


async def test_lp_sees_distributions_exports_csv_and_sets_forwarding(
    site,  # noqa: F811
    site_config,  # noqa: F811
    tmp_path,
):
    world = await business_with_an_lp(site, site_config)
    lp: Account = world["lp"]
    operator: Account = world["operator"]

    page = await site.page_for(lp)
    await page.goto(f"{site.url}{LP_PAGE}")
    balances = page.get_by_test_id("balances")
    # The operator by name: their user id is a credential, not shown to the LP.
    await expect(balances).to_contain_text(operator.username)
    await expect(page.get_by_test_id("lp-page")).not_to_contain_text(operator.id)
    row = balances.locator("tbody tr")
    await expect(row).to_have_count(1)
    # Deposited, pending, distributed, balance, sats received: grouped.
    for text in ("GTQ", "1,100.00", "30.00", "1,070.00", "5,000"):
        await expect(row).to_contain_text(text)
    await expect(page.get_by_test_id("total")).to_contain_text(
        "GTQ: 1,070.00 left of 1,100.00 deposited, 0.00 held, 5,000 sats received"
    )

    table = page.get_by_test_id("distributions")
    rows = table.locator("tbody tr")
    await expect(rows).to_have_count(2)
    # Newest first: the second cash-out, then the first.
    for row_index, cash_out in enumerate(reversed(CASH_OUTS)):
        principal, _, amount, rate, basis, per_unit = cash_out
        cells = rows.nth(row_index).locator("td")
        await expect(cells.nth(2)).to_have_text(f"{amount} GTQ")
        await expect(cells.nth(3)).to_have_text(f"{principal:,}")
        # Rates grouped in thousands, a whole rate without its ".00".
        await expect(cells.nth(4)).to_have_text(grouped(rate))
        await expect(cells.nth(5)).to_have_text(grouped(basis))
        await expect(cells.nth(6)).to_have_text(per_unit)
        await expect(cells.nth(7)).to_have_text("paid")

    chart = await page.evaluate(
        """() => {
          const canvas = document.querySelector('[data-testid=sats-chart]')
          const chart = Chart.getChart(canvas)
          return chart && {type: chart.config.type, data: chart.data.datasets[0].data}
        }"""
    )
    assert chart == {"type": "line", "data": [2000, 5000]}
    await site.screenshot(page, "lp-page")

    async with page.expect_download() as download_info:
        await page.get_by_test_id("export-csv").click()
    download = await download_info.value
    assert download.suggested_filename == "distributions.csv"
    target = tmp_path / "distributions.csv"
    await download.save_as(target)
    exported = list(csv.DictReader(io.StringIO(target.read_text())))
    settlement_ids = [s["id"] for s in reversed(world["settlements"])]
    assert [
        (
            r["settlement_id"],
            r["operator"],
            r["fiat_amount"],
            r["sats"],
            r["exchange_rate"],
            r["cost_basis"],
            r["sats_per_fiat_unit"],
            r["status"],
        )
        for r in exported
    ] == [
        (sid, operator.username, amount, str(principal), rate, basis, per_unit, "paid")
        for sid, (principal, _, amount, rate, basis, per_unit) in zip(
            settlement_ids, reversed(CASH_OUTS), strict=True
        )
    ]
    assert exported == list(
        csv.DictReader(
            io.StringIO(
                await site.api("GET", f"{API}/lp/distributions.csv", account=lp)
            )
        )
    )

    # Auto-forward: an address that is none is refused before sending.
    sent = record_requests(page, "/lp/forwarding")
    address = page.get_by_label("Lightning address", exact=True)
    await address.fill("not-an-address")
    await expect(
        page.get_by_text("Not a Lightning address (name@domain.com)")
    ).to_be_visible()
    await page.get_by_label("Fee reserve (bps)", exact=True).fill("1001")
    await expect(
        page.get_by_text("A whole number of basis points from 0 to 1000 (10 %)")
    ).to_be_visible()
    await page.get_by_role("button", name="Save forwarding").click()
    await expect(notification(page, NOT_SAVED)).to_be_visible()
    await site.screenshot(page, "lp-forwarding-refused")
    assert sent == []

    await address.fill("  Savings@Example.com ")
    await page.get_by_label("Fee reserve (bps)", exact=True).fill("200")
    async with page.expect_response(
        lambda r: r.url.endswith("/lp/forwarding") and r.request.method == "PUT"
    ) as answer:
        await page.get_by_role("button", name="Save forwarding").click()
    assert (await answer.value).status == 200
    await expect(
        notification(page, "Distributions will be forwarded to savings@example.com")
    ).to_be_visible()
    assert await site.api("GET", f"{API}/lp/forwarding", account=lp) == {
        "ln_address": "savings@example.com",
        "fee_reserve_bps": 200,
    }
    await page.reload()
    await expect(page.get_by_label("Lightning address", exact=True)).to_have_value(
        "savings@example.com"
    )
    await expect(page.get_by_test_id("forwards")).to_contain_text(
        "Nothing forwarded yet"
    )
    assert page.console_errors == []

    # The super user's overview counts the operator's two settlements.
    overview = await site.page_for(site.super)
    await open_super_page(site, overview)
    settlements = world["settlements"]
    fees = sum(s["platform_fee_sats"] for s in settlements)
    assert fees == 30 + 45
    operator_row = (
        overview.get_by_test_id("overview")
        .locator("tbody tr")
        .filter(has_text=operator.username)
    )
    cells = operator_row.locator("td")
    await expect(cells.nth(1)).to_have_text("1")
    await expect(cells.nth(2)).to_have_text("2")
    await expect(cells.nth(3)).to_have_text(
        f"{sum(s['gross_sats'] for s in settlements):,}"
    )
    await expect(cells.nth(5)).to_have_text(str(fees))
    await expect(overview.get_by_test_id("fees-total")).to_have_text(f"{fees} sats")
    await site.screenshot(overview, "super-overview")
    assert overview.console_errors == []


# The LP's chart, as Chart.js holds it: its data, and whether it is the chart the
# page kept in window.keptChart.
CHART = """() => {
  const chart = Chart.getChart(document.querySelector('[data-testid=sats-chart]'))
  return chart && {data: chart.data.datasets[0].data, kept: chart === window.keptChart}
}"""


async def chart_shows(page: Page, data: list[int]) -> dict:
    """Waits until the LP's chart shows ``data``; what CHART says then."""
    await page.wait_for_function(
        f"expected => {{ const c = ({CHART})(); "
        "return c && JSON.stringify(c.data) === JSON.stringify(expected) }",
        arg=data,
        polling=100,
    )
    return await page.evaluate(CHART)


async def test_lp_chart_comes_with_the_distributions_and_follows_a_payout(
    site,  # noqa: F811
    site_config,  # noqa: F811
):
    world = await business_with_an_lp(site, site_config)
    lp: Account = world["lp"]
    operator: Account = world["operator"]
    channel = (await site.api("GET", f"{API}/push/channel", account=lp))["channel"]
    page = await site.page_for(lp)
    # The forwarding settings are slow to come: the chart does not wait for them.
    forwarding_may_come = await held_back(page, f"**{API}/lp/forwarding")
    async with page.expect_websocket(
        lambda socket: socket.url.endswith(f"/api/v1/ws/{channel}")
    ):
        await page.goto(f"{site.url}{LP_PAGE}")
    await expect(
        page.get_by_test_id("distributions").locator("tbody tr")
    ).to_have_count(2)
    assert (await chart_shows(page, [2000, 5000]))["data"] == [2000, 5000]
    # Its form waits for them: what the LP typed would be replaced when they came.
    address = page.get_by_label("Lightning address", exact=True)
    await expect(address).to_be_disabled()
    forwarding_may_come.set()
    await expect(address).to_be_enabled()

    # A third cash-out: its payout's notice brings the new figure into the same
    # chart (not a new one drawn over it while the LP reads it).
    await page.evaluate(
        "() => { window.keptChart = "
        "Chart.getChart(document.querySelector('[data-testid=sats-chart]')) }"
    )
    [machine] = await site.api("GET", f"{API}/machines", account=operator)
    await site.api(
        "PUT",
        "/users/api/v1/balance",
        account=site.super,
        body={"id": machine["wallet_id"], "amount": 10_000},
    )
    await site.api(
        "POST",
        f"{API}/settlements/manual",
        account=operator,
        body={
            "machine_id": machine["id"],
            "direction": "cash_out",
            "principal_sats": 1000,
            "fee_sats": 50,
            "fee_override_reason": "commission agreed with the customer",
            "fiat_amount": "5.00",
            "fiat_code": "GTQ",
            "exchange_rate": "500000.00",
            "tx_id": f"tx-{uuid.uuid4().hex[:12]}",
        },
    )
    assert await chart_shows(page, [2000, 5000, 6000]) == {
        "data": [2000, 5000, 6000],
        "kept": True,
    }
    await expect(
        page.get_by_test_id("distributions").locator("tbody tr")
    ).to_have_count(3)
    assert page.console_errors == []


async def test_lp_page_for_someone_who_is_no_lp(site):  # noqa: F811
    user = await site.new_account("nolp")
    page = await site.page_for(user)
    await page.goto(f"{site.url}{LP_PAGE}")
    await expect(page.get_by_test_id("not-lp")).to_be_visible()
    await expect(page.get_by_test_id("lp-page")).not_to_contain_text(user.id)
    await expect(page.get_by_test_id("balances")).to_have_count(0)
    # Enrolment is by the user's consent: a one-time code, then their name.
    await page.get_by_test_id("make-code").click()
    code = page.get_by_test_id("enrol-code")
    await expect(code).to_have_text(
        re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$")
    )
    await expect(page.get_by_test_id("enrol-code-left")).to_contain_text("expires in")
    await page.get_by_label("Name operators see", exact=True).fill("Ana's savings")
    await page.get_by_role("button", name="Save name").click()
    await expect(page.get_by_text("Operators see you as Ana's savings")).to_be_visible()
    operator = await site.new_account("op")
    enrolment = await site.api(
        "POST",
        f"{API}/lps",
        account=operator,
        body={"code": await code.inner_text(), "fiat_code": "GTQ"},
    )
    assert enrolment["name"] == "Ana's savings"
    assert user.id not in str(enrolment) and user.wallet_id not in str(enrolment)
    await site.screenshot(page, "lp-page-not-enrolled")
    assert page.console_errors == []

"""Fee schedules as people see them, in Chromium against a real LNbits
(tests/support/browser_site.py).

The operator sets a default schedule on the Fees tab and sees each machine priced
by it with its version; a machine's own schedule above the platform's maximum is
refused with the API's plain message and nothing is saved; clearing it returns
the machine to the default; its form opens only once its schedule has come, and a
sale landing while the operator types there leaves the form as typed; an example
quote shows what the customer pays and how the commission splits, wallets by name;
Refresh leaves the default's form as typed, and a failed load of it says so there;
a manual transaction takes its fee from the schedule, or another fee with a
reason. The super user sets the maximum commission, the enforcement and the grace
period, which persist after a reload, and sees a fee mismatch by the operator's
and the machine's names.

Every page must log no console error other than the refusals a test provokes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from browser_site import (  # noqa: F401 (fixtures)
    API,
    EXT_ID,
    Account,
    BrowserSite,
    held_back,
    notice_only_page,
    site,
    site_config,
    site_config_for_module,
    skip_or_fail_without_browser,
)
from super_config import SuperConfigSetter

from helpers import cash_out_body, load_simulator

pytestmark = [pytest.mark.browser, pytest.mark.slow]
skip_or_fail_without_browser(module=True)

from playwright.async_api import Locator, Page, Route, expect  # noqa: E402

if TYPE_CHECKING:
    from browser_site import BrowserPage

DASHBOARD = f"/{EXT_ID}/"
SUPER_PAGE = f"/{EXT_ID}/super"


def marked(scope: Page | Locator, name: str) -> Locator:
    return scope.locator(f'[data-test="{name}"]')


def direction_form(scope: Locator, direction: str) -> Locator:
    """One direction's fields of a fee schedule editor."""
    return scope.locator(f'[data-test="fee-{direction}"]')


async def fill_schedule(editor: Locator, direction: str, **values: str) -> None:
    form = direction_form(editor, direction)
    labels = {
        "commission": "Commission (%)",
        "fixed": "Fixed fee (sats)",
        "min": "Minimum",
        "max": "Maximum",
    }
    for key, value in values.items():
        await form.get_by_label(re.compile(f"^{re.escape(labels[key])}")).fill(value)


async def notification(page: Page, text: str) -> None:
    await expect(
        page.locator(".q-notification").filter(has_text=text).first
    ).to_be_visible()


def refusals(page: BrowserPage) -> list[str]:
    """Chromium logs each refused request as a console error; anything else
    logged is a failure of its own."""
    refused = [
        error
        for error in page.console_errors
        if error.startswith("console.error: Failed to load resource")
    ]
    assert [e for e in page.console_errors if e not in refused] == []
    return refused


async def open_fees_tab(site: BrowserSite, account: Account) -> BrowserPage:  # noqa: F811
    page = await site.page_for(account)
    await page.goto(f"{site.url}{DASHBOARD}")
    await expect(marked(page, "server-npub")).to_contain_text("npub1")
    await page.get_by_role("tab", name="Fees").click()
    return page


async def machine_with_keys(
    site: BrowserSite,  # noqa: F811
    account: Account,
    body: dict,
) -> tuple[dict, str, str]:
    """A machine added by npub and confirmed over the relay, as
    ``site.add_machine`` does, with its secret key and seed URL kept so that it
    can speak to the server again."""
    from nostr_sdk import Keys

    keys = Keys.generate()
    npub = keys.public_key().to_bech32()
    expected = await site.api(
        "POST", f"{API}/machines", account=account, body={**body, "npub": npub}
    )
    await site.machine_confirms(keys.secret_key().to_hex(), expected["seed_url"])
    machines = await site.api("GET", f"{API}/machines", account=account)
    [machine] = [m for m in machines if m["npub"] == npub]
    return machine, keys.secret_key().to_hex(), expected["seed_url"]


async def local_time(page: Page, seconds: int) -> str:
    """A time as the page shows it, in the browser's own locale and zone."""
    return await page.evaluate("s => new Date(s * 1000).toLocaleString()", seconds)


def machine_row(page: Page, machine: dict) -> Locator:
    return marked(page, f"fee-machine-{machine['id']}")


async def machine_fees(site: BrowserSite, account: Account, machine: dict) -> dict:  # noqa: F811
    return await site.api(
        "GET", f"{API}/machines/{machine['id']}/fees", account=account
    )


def schedule(out_bps: int, in_bps: int = 300, **cash_out) -> dict:
    return {
        "cash_out": {
            "commission_bps": out_bps,
            "fixed_fee_sats": 0,
            "min_fiat": None,
            "max_fiat": None,
            **cash_out,
        },
        "cash_in": {
            "commission_bps": in_bps,
            "fixed_fee_sats": 0,
            "min_fiat": None,
            "max_fiat": None,
        },
    }


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def platform_fee_30(
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


async def test_the_default_schedule_prices_every_machine_with_its_version(
    site: BrowserSite,  # noqa: F811
    platform_fee_30: None,
):
    operator = await site.new_account("operator")
    machine, secret_key, seed_url = await machine_with_keys(
        site, operator, {"name": "Lobby ATM", "fiat_code": "GTQ"}
    )
    page = await open_fees_tab(site, operator)
    row = machine_row(page, machine)
    # No schedule yet: the built-in one, said in words, with an invitation.
    await expect(marked(page, "fee-builtin-notice")).to_contain_text(
        "no commission of your own (0 %)"
    )
    await expect(marked(row, "fee-source")).to_have_text("Built-in default")
    await expect(marked(row, "fee-cash-out")).to_have_text("0.00 %, no limits")
    await site.screenshot(page, "fees-builtin")

    editor = marked(page, "fee-default")
    await fill_schedule(
        editor, "cash_out", commission="5.25", fixed="100", min="20", max="5000"
    )
    await fill_schedule(editor, "cash_in", commission="4", max="2000")
    await marked(editor, "fee-save").click()
    await notification(page, "Default fee schedule saved")
    await expect(marked(page, "fee-builtin-notice")).to_have_count(0)

    fees = await machine_fees(site, operator, machine)
    assert fees["source"] == "default"
    assert fees["schedule"]["cash_out"] == {
        "commission_bps": 525,
        "fixed_fee_sats": 100,
        "min_fiat": "20.00",
        "max_fiat": "5000.00",
    }
    await expect(marked(row, "fee-source")).to_have_text("Your default")
    await expect(marked(row, "fee-cash-out")).to_have_text(
        "5.25 % + 100 sat, 20.00 to 5,000.00 GTQ"
    )
    await expect(marked(row, "fee-cash-in")).to_have_text("4.00 %, up to 2,000.00 GTQ")
    await expect(marked(row, "fee-version")).to_have_text(str(fees["version"]))
    await expect(marked(row, "fee-fetched")).to_have_text("Not fetched yet")
    await site.screenshot(page, "fees-default-saved")

    # The machine fetches it (get_fees): the page says when.
    atm, _ = load_simulator().BitspireSimulator.from_seed_url(
        seed_url, secret_key=secret_key, timeout=30.0, log=lambda _: None
    )
    async with atm:
        assert (await atm.fee_schedule() or {}).get("version") == fees["version"]
    fetched_at = (await machine_fees(site, operator, machine))["fetched_at"]
    await marked(page, "fee-machines").get_by_role("button", name="Refresh").click()
    await expect(marked(row, "fee-fetched")).to_have_text(
        f"Fetched {await local_time(page, fetched_at)}"
    )

    # What was saved is what the form shows after a reload.
    await page.reload()
    await page.get_by_role("tab", name="Fees").click()
    cash_out = direction_form(marked(page, "fee-default"), "cash_out")
    await expect(cash_out.get_by_label("Commission (%)")).to_have_value("5.25")
    await expect(cash_out.get_by_label(re.compile("^Maximum"))).to_have_value(
        re.compile(r"^5000(\.00)?$")
    )
    saved = await site.api("GET", f"{API}/fees", account=operator)
    assert saved["default"]["cash_in"]["commission_bps"] == 400
    assert page.console_errors == []


async def test_an_override_above_the_cap_is_refused_and_clearing_returns_to_default(
    site: BrowserSite,  # noqa: F811
    platform_fee_30: None,
    site_config: SuperConfigSetter,  # noqa: F811
):
    operator = await site.new_account("operator")
    machine = await site.add_machine(operator, {"name": "Mall ATM", "fiat_code": "GTQ"})
    await site.api("PUT", f"{API}/fees", account=operator, body=schedule(500))
    page = await open_fees_tab(site, operator)
    row = machine_row(page, machine)
    await expect(marked(row, "fee-source")).to_have_text("Your default")
    default_version = (await machine_fees(site, operator, machine))["version"]

    # The super user lowers the maximum while the page is open: the page does
    # not know yet, the API refuses, in plain words, and nothing is saved.
    await site_config.set({"cash_out_max_commission_bps": 1000})
    await row.get_by_role("button", name="Set its own schedule").click()
    dialog = marked(page, "fee-override-dialog")
    await fill_schedule(dialog, "cash_out", commission="15")
    await marked(dialog, "fee-save").click()
    await expect(marked(dialog, "fee-error")).to_have_text(
        "The cash-out commission of 1500 bps is above the platform's maximum of "
        "1000 bps"
    )
    await site.screenshot(page, "fees-override-refused")
    fees = await machine_fees(site, operator, machine)
    assert (fees["source"], fees["override"], fees["version"]) == (
        "default",
        None,
        default_version,
    )

    # Within the maximum it is saved, and the machine shows its own schedule.
    await fill_schedule(dialog, "cash_out", commission="8")
    await marked(dialog, "fee-save").click()
    await expect(dialog).to_be_hidden()
    await notification(page, "Mall ATM has its own fee schedule")
    fees = await machine_fees(site, operator, machine)
    assert fees["source"] == "machine"
    assert fees["override"]["cash_out"]["commission_bps"] == 800
    await expect(marked(row, "fee-source")).to_have_text("Its own schedule")
    await expect(marked(row, "fee-cash-out")).to_have_text("8.00 %, no limits")
    await expect(marked(row, "fee-version")).to_have_text(str(fees["version"]))

    # After a reload the page knows the maximum: the form refuses before sending.
    await page.reload()
    await page.get_by_role("tab", name="Fees").click()
    await row.get_by_role("button", name="Set its own schedule").click()
    await expect(
        direction_form(dialog, "cash_out").get_by_label("Commission (%)")
    ).to_have_value("8.00")
    await fill_schedule(dialog, "cash_out", commission="10.01")
    await marked(dialog, "fee-save").click()
    await expect(
        dialog.get_by_text("Above the platform's maximum of 10.00 %")
    ).to_be_visible()
    # A fixed fee with a few zeros too many is refused before sending too.
    await fill_schedule(dialog, "cash_out", commission="8", fixed="100000000")
    await marked(dialog, "fee-save").click()
    await expect(dialog.get_by_text("At most 1,000,000 sat (0.01 BTC)")).to_be_visible()
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()

    await row.get_by_role("button", name="Back to the default").click()
    await page.locator(".q-dialog").get_by_role("button", name="OK").click()
    await notification(page, "Mall ATM follows the default schedule again")
    fees = await machine_fees(site, operator, machine)
    assert (fees["source"], fees["override"]) == ("default", None)
    assert fees["version"] > default_version
    await expect(marked(row, "fee-source")).to_have_text("Your default")
    await expect(marked(row, "fee-cash-out")).to_have_text("5.00 %, no limits")
    await expect(marked(row, "fee-version")).to_have_text(str(fees["version"]))
    await expect(row.get_by_role("button", name="Back to the default")).to_have_count(0)
    assert len(refusals(page)) == 1  # the refused PUT, before the reload


async def test_a_machine_s_form_starts_from_its_schedule_and_a_sale_leaves_it_alone(
    site: BrowserSite,  # noqa: F811
    platform_fee_30: None,
):
    """The override dialog's form is a copy of the machine's schedule, taken when
    it opens: it cannot open before that schedule has come (it would start from
    the built-in 0 % and save that), and a sale landing while the operator types,
    which the page refetches at once on its notice, leaves what they typed."""
    operator = await site.new_account("operator")
    machine = await site.add_machine(
        operator, {"name": "Kiosk ATM", "fiat_code": "GTQ"}
    )
    await site.api("PUT", f"{API}/fees", account=operator, body=schedule(500))
    fees_path = f"{API}/machines/{machine['id']}/fees"
    await site.api("PUT", fees_path, account=operator, body=schedule(800))
    noticed = await notice_only_page(site, operator)
    page, channel = noticed.page, noticed.channel
    # The operator's and the machine's schedules are slow to come.
    schedules_may_come = await held_back(page, f"**{API}/fees", f"**{fees_path}")
    async with page.expect_websocket(
        lambda socket: socket.url.endswith(f"/api/v1/ws/{channel}")
    ):
        await page.goto(f"{site.url}{DASHBOARD}")
    await page.get_by_role("tab", name="Fees").click()
    edit = machine_row(page, machine).get_by_role("button", name="Set its own schedule")
    await expect(edit).to_be_disabled()
    schedules_may_come.set()
    await edit.click()
    dialog = marked(page, "fee-override-dialog")
    commission = direction_form(dialog, "cash_out").get_by_label("Commission (%)")
    await expect(commission).to_have_value("8.00")
    await commission.fill("9.5")

    # Loaded, and caught up once its socket opened: from now on only a notice
    # makes the page fetch again.
    await noticed.caught_up()
    await site.api(
        "PUT",
        "/users/api/v1/balance",
        account=site.super,
        body={"id": machine["wallet_id"], "amount": 210_000},
    )
    # The overview's figures are the last thing a notice of a sale refetches.
    async with page.expect_response(lambda r: "/stats/daily" in r.url):
        await site.api(
            "POST",
            f"{API}/settlements/manual",
            account=operator,
            body=cash_out_body(machine["id"], tx_id="sold-while-typing"),
        )
    settlements = marked(page, "settlements-table").locator("tbody tr")
    await expect(settlements.filter(has_text="sold-while-typing")).to_have_count(1)
    await expect(dialog).to_be_visible()
    await expect(commission).to_have_value("9.5")
    await marked(dialog, "fee-save").click()
    await expect(dialog).to_be_hidden()
    fees = await machine_fees(site, operator, machine)
    assert fees["override"]["cash_out"]["commission_bps"] == 950
    await expect(marked(machine_row(page, machine), "fee-cash-out")).to_have_text(
        "9.50 %, no limits"
    )
    assert page.console_errors == []


async def test_the_example_quote_shows_what_the_customer_pays_and_the_split(
    site: BrowserSite,  # noqa: F811
    platform_fee_30: None,
):
    operator = await site.new_account("operator")
    await site.api(
        "POST", "/api/v1/wallet", account=operator, body={"name": "Employee"}
    )
    await site.refresh(operator)
    wallets = {wallet["name"]: wallet["id"] for wallet in operator.wallets}
    own = next(name for name in wallets if name != "Employee")
    await site.add_machine(operator, {"name": "Quote ATM", "fiat_code": "GTQ"})
    await site.api(
        "PUT",
        f"{API}/splits",
        account=operator,
        body={
            "rules": [
                {"label": "Self", "wallet_id": wallets[own], "weight_bps": 6000},
                {
                    "label": "Staff",
                    "wallet_id": wallets["Employee"],
                    "weight_bps": 4000,
                },
            ]
        },
    )
    await site.api(
        "PUT",
        f"{API}/fees",
        account=operator,
        body=schedule(500, max_fiat="1500"),
    )
    page = await open_fees_tab(site, operator)
    quote = marked(page, "fee-quote")
    await expect(marked(quote, "quote-machine")).to_contain_text("Quote ATM")
    await quote.get_by_label(re.compile("^Amount")).fill("1000.00")
    await quote.get_by_label("Rate (fiat per BTC)").fill("500000.00")
    await marked(quote, "quote-show").click()

    # 1000.00 GTQ at 500000.00 GTQ/BTC is 200 000 sats; 5 % of it is 10 000.
    await expect(marked(quote, "quote-customer")).to_have_text("210,000 sat")
    await expect(quote.get_by_text("The customer pays")).to_be_visible()
    await expect(quote.get_by_text("and receives 1000.00 GTQ in cash")).to_be_visible()
    await expect(marked(quote, "quote-fee")).to_have_text("10,000 sat")
    await expect(marked(quote, "quote-limits")).to_have_text("yes")
    # 30 % of the commission to the platform, the rest 60/40 to two wallets.
    await expect(marked(quote, "quote-platform")).to_have_text("3,000 sat")
    await expect(marked(quote, "quote-leg")).to_have_text(
        [
            re.compile(rf"Self\s*{re.escape(own)}\s*4,200 sat"),
            re.compile(r"Staff\s*Employee\s*2,800 sat"),
        ]
    )
    await expect(marked(quote, "quote-operator")).to_have_text("7,000 sat")
    await site.screenshot(page, "fees-quote")

    await quote.get_by_label(re.compile("^Amount")).fill("2000.00")
    await marked(quote, "quote-show").click()
    await expect(marked(quote, "quote-customer")).to_have_text("420,000 sat")
    await expect(marked(quote, "quote-limits")).to_have_text(
        "no: the machine refuses this amount"
    )

    await marked(quote, "quote-direction").click()
    await page.get_by_role("option", name=re.compile("^Cash-in")).click()
    await marked(quote, "quote-show").click()
    # Cash-in: 3 % of 400 000 sats is kept, the customer receives the rest.
    await expect(marked(quote, "quote-customer")).to_have_text("388,000 sat")
    await expect(quote.get_by_text("The customer receives")).to_be_visible()
    await expect(marked(quote, "quote-limits")).to_have_text("yes")

    # The API's refusal is said next to the form, in its own words.
    await quote.get_by_label(re.compile("^Amount")).fill("10.005")
    await marked(quote, "quote-show").click()
    await expect(marked(quote, "quote-error")).to_have_text(
        "Fiat amount '10.005' has more decimals than GTQ allows (2)"
    )
    await expect(marked(quote, "quote-result")).to_have_count(0)
    # Another amount, refused by the form this time: the old refusal is gone.
    await quote.get_by_label(re.compile("^Amount")).fill("-5")
    await marked(quote, "quote-show").click()
    await expect(marked(quote, "quote-error")).to_have_count(0)
    await expect(quote.get_by_text("A plain amount like 100 or 100.50")).to_be_visible()
    assert len(refusals(page)) == 1


async def test_a_manual_transaction_takes_the_schedules_fee_or_one_with_a_reason(
    site: BrowserSite,  # noqa: F811
    platform_fee_30: None,
):
    operator = await site.new_account("operator")
    machine = await site.add_machine(operator, {"name": "Hand ATM", "fiat_code": "GTQ"})
    await site.api("PUT", f"{API}/fees", account=operator, body=schedule(400))
    await site.api(
        "PUT",
        "/users/api/v1/balance",
        account=site.super,
        body={"id": machine["wallet_id"], "amount": 500_000},
    )
    version = (await machine_fees(site, operator, machine))["version"]
    page = await site.page_for(operator)
    await page.goto(f"{site.url}{DASHBOARD}")
    await page.get_by_role("tab", name="Settlements").click()

    async def fill_manual(tx_id: str) -> Locator:
        await marked(page, "manual-tx").click()
        dialog = marked(page, "manual-dialog")
        await marked(dialog, "manual-principal").fill("200000")
        await marked(dialog, "manual-fiat").fill("1000.00")
        await marked(dialog, "manual-rate").fill("500000.00")
        await marked(dialog, "manual-txid").fill(tx_id)
        return dialog

    # Left to the schedule: 4 % of 200 000 sats, shown before it is recorded.
    dialog = await fill_manual("by-schedule")
    # A principal beyond every bitcoin there is, typed as 1e30, is refused on
    # its field, and no fee is worked out from it.
    await marked(dialog, "manual-principal").fill("1e30")
    await expect(
        dialog.get_by_text("At most 2,100,000,000,000,000 sats (21 million BTC)")
    ).to_be_visible()
    await expect(marked(dialog, "manual-fee-schedule")).not_to_contain_text("sat")
    await marked(dialog, "manual-principal").fill("200000")
    await expect(marked(dialog, "manual-fee-schedule")).to_have_text(
        f"Schedule version {version}: 8,000 sat"
    )
    await expect(marked(dialog, "manual-fee")).to_have_count(0)
    await marked(dialog, "manual-save").click()
    await expect(dialog).to_be_hidden()
    rows = marked(page, "settlements-table").locator("tbody tr")
    await expect(rows.filter(has_text="by-schedule")).to_contain_text("8,000 sat")

    # Another fee needs a reason, which is recorded with the difference.
    dialog = await fill_manual("overridden")
    await marked(dialog, "manual-fee-from-schedule").click()
    await marked(dialog, "manual-fee").fill("10000")
    await expect(dialog.get_by_text("The schedule's: 8,000 sat")).to_be_visible()
    await marked(dialog, "manual-save").click()
    await expect(
        dialog.get_by_text("Say why the commission differs from the schedule")
    ).to_be_visible()
    await site.screenshot(page, "fees-manual-override")
    await marked(dialog, "manual-fee-reason").fill("sticker showed the old price")
    await marked(dialog, "manual-save").click()
    await expect(dialog).to_be_hidden()
    await expect(rows.filter(has_text="overridden")).to_contain_text("10,000 sat")
    await site.screenshot(page, "fees-manual")

    page_of = await site.api("GET", f"{API}/settlements", account=operator)
    by_tx = {row["tx_id"]: row for row in page_of["data"]}
    assert by_tx["by-schedule"]["commission_sats"] == 8000
    assert by_tx["by-schedule"]["fee_mismatch_sats"] == 0
    assert by_tx["overridden"]["commission_sats"] == 10_000
    assert by_tx["overridden"]["fee_mismatch_sats"] == 2000
    audit = await site.api("GET", f"{API}/audit", account=operator)
    [entry] = [e for e in audit if e["action"] == "settlement.fee_override"]
    assert entry["detail"]["reason"] == "sticker showed the old price"
    assert page.console_errors == []


async def open_super_page(site: BrowserSite) -> BrowserPage:  # noqa: F811
    page = await site.page_for(site.super)
    await page.goto(f"{site.url}{SUPER_PAGE}")
    await expect(page.get_by_test_id("server-npub")).to_contain_text("npub1")
    return page


async def test_the_super_user_sets_the_cap_and_enforcement_which_persist(
    site: BrowserSite,  # noqa: F811
    site_config: SuperConfigSetter,  # noqa: F811
):
    await site_config.set(
        {
            "cash_out_max_commission_bps": 2000,
            "fee_enforcement": "refuse",
            "fee_grace_s": 600,
        }
    )
    page = await open_super_page(site)
    cap = page.get_by_label("Maximum cash-out commission (%)")
    await expect(cap).to_have_value("20.00")
    record = page.get_by_test_id("fee-enforcement-record")
    await expect(page.get_by_test_id("fee-enforcement-refuse")).to_have_attribute(
        "aria-checked", "true"
    )
    await expect(
        page.get_by_text("The machine is told the right fee and the customer")
    ).to_be_visible()

    await cap.fill("12.345")
    await page.get_by_role("button", name="Save fee").click()
    await expect(
        page.get_by_text("A percent from 0 to 100, with at most two decimals")
    ).to_be_visible()
    assert (await site_config.get())["cash_out_max_commission_bps"] == 2000

    # Below what an operator's schedule charges: the API's refusal, in words.
    operator = await site.new_account("operator")
    await site.api("PUT", f"{API}/fees", account=operator, body=schedule(600))
    await cap.fill("5")
    await page.get_by_role("button", name="Save fee").click()
    await expect(
        page.locator(".q-notification").filter(
            # Another test's operator may charge more: the highest is named.
            has_text=re.compile(
                r"the cash-out fee schedule of \w+ charges a commission of "
                r"\d+\.\d\d %, above the new maximum of 5\.00 %"
            )
        )
    ).to_be_visible()
    assert (await site_config.get())["cash_out_max_commission_bps"] == 2000

    await cap.fill("12.5")
    await record.click()
    await page.get_by_label("Grace period after a schedule changes (seconds)").fill(
        "120"
    )
    async with page.expect_response(
        lambda r: r.url.endswith("/super/config") and r.request.method == "PUT"
    ) as answer:
        await page.get_by_role("button", name="Save fee").click()
    assert (await answer.value).status == 200
    await notification(page, "Platform fee saved")
    await site.screenshot(page, "fees-super-policy")

    await page.reload()
    await expect(page.get_by_test_id("server-npub")).to_contain_text("npub1")
    await expect(page.get_by_label("Maximum cash-out commission (%)")).to_have_value(
        "12.50"
    )
    await expect(record).to_have_attribute("aria-checked", "true")
    await expect(
        page.get_by_label("Grace period after a schedule changes (seconds)")
    ).to_have_value("120")
    config = await site_config.get()
    assert config["cash_out_max_commission_bps"] == 1250
    assert config["fee_enforcement"] == "record"
    assert config["fee_grace_s"] == 120
    assert len(refusals(page)) == 1  # the maximum below a schedule


async def test_the_super_user_sees_a_fee_mismatch_by_names(
    site: BrowserSite,  # noqa: F811
    platform_fee_30: None,
):
    operator = await site.new_account("operator")
    machine = await site.add_machine(operator, {"name": "Kiosk 7", "fiat_code": "GTQ"})
    await site.api("PUT", f"{API}/fees", account=operator, body=schedule(400))
    await site.api(
        "POST",
        f"{API}/settlements/manual",
        account=operator,
        body=cash_out_body(
            machine["id"],
            tx_id="mismatch-1",
            fee_override_reason="the customer was quoted the old price",
        ),
    )
    page = await open_super_page(site)
    row = (
        page.get_by_test_id("fee-mismatches")
        .locator("tbody tr")
        .filter(has_text="mismatch-1")
    )
    await expect(row).to_contain_text(operator.username)
    await expect(row).to_contain_text("Kiosk 7")
    await expect(row).to_contain_text("Cash-out")
    await expect(row).to_contain_text("10,000 sat")
    await expect(row).to_contain_text("+2,000 sat")
    await expect(row).not_to_contain_text(machine["id"])
    await site.screenshot(page, "fees-super-mismatches")
    assert page.console_errors == []


async def test_refresh_leaves_the_default_form_as_typed_and_a_failed_load_says_so(
    site: BrowserSite,  # noqa: F811
    platform_fee_30: None,
):
    """The machines card's Refresh reloads the default schedule too: what the
    operator is typing in the default's form stays, and when that load fails its
    message stays beside the form, although the machines then load."""
    operator = await site.new_account("operator")
    machine = await site.add_machine(
        operator, {"name": "Depot ATM", "fiat_code": "GTQ"}
    )
    await site.api("PUT", f"{API}/fees", account=operator, body=schedule(500))
    page = await open_fees_tab(site, operator)
    editor = marked(page, "fee-default")
    commission = direction_form(editor, "cash_out").get_by_label("Commission (%)")
    await expect(commission).to_have_value("5.00")
    await commission.fill("6.25")
    refresh = marked(page, "fee-machines").get_by_role("button", name="Refresh")
    machine_fees_path = f"{API}/machines/{machine['id']}/fees"

    async def refreshed() -> None:
        async with page.expect_response(lambda r: r.url.endswith(machine_fees_path)):
            await refresh.click()

    await refreshed()
    await expect(commission).to_have_value("6.25")

    async def busy(route: Route) -> None:
        await route.fulfill(status=503, json={"detail": "The database is busy"})

    await page.route(f"**{API}/fees", busy)
    await refreshed()
    error = marked(page, "fee-default-error")
    await expect(error).to_contain_text("The database is busy")
    await expect(marked(page, "fee-machines-error")).to_have_count(0)
    await page.unroute(f"**{API}/fees", busy)
    await refreshed()
    await expect(error).to_have_count(0)

    await expect(commission).to_have_value("6.25")
    await marked(editor, "fee-save").click()
    await notification(page, "Default fee schedule saved")
    saved = await site.api("GET", f"{API}/fees", account=operator)
    assert saved["default"]["cash_out"]["commission_bps"] == 625
    assert len(refusals(page)) == 1  # the 503, and nothing else

"""The operator dashboard in Chromium, against a real LNbits: a new operator adds a
machine, pairs another, sets splits with the live preview, records a manual
transaction, sees it paid leg by leg, exports CSV and sees a new settlement arrive
without reloading. The split editor takes input only once the saved rules have
come, and an LP's settle dialog shows the balance as it changes. Every page must
render without console errors."""

from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from browser_site import (  # noqa: F401 (fixtures)
    API,
    EXT_ID,
    BrowserSite,
    held_back,
    site,
    site_config_for_module,
)
from playwright.async_api import Page, expect
from super_config import SuperConfigSetter

from helpers import cash_out_body, load_simulator

if TYPE_CHECKING:
    from browser_site import BrowserPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DASHBOARD = f"/{EXT_ID}/"


def field(page: Page, name: str):
    """A Quasar input marked data-test=name (QInput puts the attribute on its
    native input)."""
    return page.locator(f'input[data-test="{name}"]')


async def choose(page: Page, name: str, option: str) -> None:
    await page.locator(f'[data-test="{name}"]').click()
    await page.get_by_role("option", name=option, exact=True).click()


async def notification(page: Page, pattern: str) -> None:
    await expect(
        page.locator(".q-notification").filter(has_text=re.compile(pattern))
    ).to_be_visible()


def assert_only_refusals(page: BrowserPage, statuses: list[str]) -> None:
    """Chromium logs each refused request as a console error: exactly the
    refusals the test provoked, and nothing else."""
    refused = [
        error
        for error in page.console_errors
        if error.startswith("console.error: Failed to load resource")
    ]
    assert [status for status in statuses if any(status in e for e in refused)] == (
        statuses
    )
    assert len(refused) == len(statuses), refused
    assert [e for e in page.console_errors if e not in refused] == []


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


async def test_operator_runs_the_business_from_the_dashboard(
    site: BrowserSite,  # noqa: F811
    platform_fee_30: None,
):
    operator = await site.new_account("operator")
    for name in ("Employee", "Maintenance"):
        await site.api("POST", "/api/v1/wallet", account=operator, body={"name": name})
    await site.refresh(operator)
    page = await site.page_for(operator)
    await page.goto(f"{site.url}{DASHBOARD}")
    await expect(page.locator('[data-test="fee-cash-out"]')).to_have_text(
        "30.00 % of the commission"
    )
    await expect(page.locator('[data-test="server-npub"]')).to_have_text(
        re.compile(r"^npub1")
    )
    await site.screenshot(page, "operator-overview-empty")

    # --- a machine by npub: checked in the page, then refused by the API ----------
    await page.get_by_role("tab", name="Machines").click()
    await page.locator('[data-test="add-machine"]').click()
    dialog = page.locator('[data-test="machine-dialog"]')
    await field(page, "machine-npub").fill("npub1notakey")
    await field(page, "machine-name").fill("Lobby ATM")
    await field(page, "machine-fiat").fill("GTQ")
    await page.locator('[data-test="machine-save"]').click()
    await expect(dialog.get_by_text("Not a valid npub")).to_be_visible()
    assert await site.api("GET", f"{API}/machines", account=operator) == []

    # A machine's npub is public: adding it only expects the machine, which must
    # confirm with the one-time code shown (as an ATM scanning it would).
    from nostr_sdk import Keys

    keys = Keys.generate()
    npub = keys.public_key().to_bech32()
    await field(page, "machine-npub").fill(npub)
    await page.locator('[data-test="machine-save"]').click()
    await expect(dialog).to_be_hidden()
    confirm = page.locator('[data-test="pair-dialog"]')
    await expect(confirm.locator('[data-test="pair-waiting"]')).to_contain_text(
        "waiting for the machine to confirm"
    )
    await expect(page.locator('[data-test="expected-machines"]')).to_contain_text(
        "Lobby ATM"
    )
    assert await site.api("GET", f"{API}/machines", account=operator) == []
    await site.screenshot(page, "operator-machine-waiting")
    seed = await field(page, "pair-seed-url").input_value()
    await site.machine_confirms(keys.secret_key().to_hex(), seed)
    await expect(confirm.get_by_text("Paired: Lobby ATM")).to_be_visible(timeout=15_000)
    await confirm.get_by_role("button", name="Close").click()
    table = page.locator('[data-test="machines-table"]')
    await expect(table.get_by_text("Lobby ATM")).to_be_visible()
    [machine] = await site.api("GET", f"{API}/machines", account=operator)
    assert (machine["name"], machine["fiat_code"], machine["npub"]) == (
        "Lobby ATM",
        "GTQ",
        npub,
    )

    await page.locator('[data-test="add-machine"]').click()
    await field(page, "machine-npub").fill(npub)
    await field(page, "machine-name").fill("Twin")
    await page.locator('[data-test="machine-save"]').click()
    await notification(page, "already one of yours")
    await page.keyboard.press("Escape")

    # --- pairing: seed URL, QR code and a countdown ---------------------------------
    await page.locator('[data-test="pair-machine"]').click()
    pair = page.locator('[data-test="pair-dialog"]')
    await pair.get_by_label("Name").fill("Mall ATM")
    await pair.get_by_role("button", name="Create pairing code").click()
    await expect(pair.locator('[data-test="pair-qr"]')).to_be_visible()
    seed_url = await field(page, "pair-seed-url").input_value()
    assert "token=" in seed_url and "server=npub1" in seed_url
    # Drawn in the page by LNbits' own QR component, of exactly the seed URL.
    qr = pair.locator('[data-test="pair-qr"] .qrcode__wrapper')
    await expect(qr.locator("svg").first).to_be_visible()
    await expect(qr.locator("a").first).to_have_attribute("title", seed_url)
    countdown = pair.locator('[data-test="pair-countdown"]')
    await expect(countdown).to_have_text(re.compile(r"^(59|60):\d\d$"))
    first = await countdown.inner_text()
    await expect(countdown).not_to_have_text(first)
    await site.screenshot(page, "operator-pairing")
    # (The machine added by npub above was a pairing too, now redeemed.)
    [pending] = [
        p
        for p in await site.api("GET", f"{API}/pairings", account=operator)
        if p["expected_npub"] is None
    ]
    assert pending["name"] == "Mall ATM" and pending["used_at"] is None

    # The machine scans it (the simulator speaks the RPC over the site's relay).
    atm, token = load_simulator().BitspireSimulator.from_seed_url(
        seed_url, log=lambda _: None
    )
    async with atm:
        await atm.pair(token)
        await expect(pair.get_by_text("Paired: Mall ATM")).to_be_visible(timeout=15_000)
        await atm.publish_beacon(cash_level="80 %", model="bitspire-2", fiat="GTQ")
        await pair.get_by_role("button", name="Close").click()
        mall = table.locator("tbody tr").filter(has_text="Mall ATM")
        await expect(mall).to_contain_text("online", timeout=15_000)
        await expect(mall).to_contain_text("80 %")
        await expect(mall).to_contain_text("bitspire-2")
        await expect(mall).to_contain_text("0 sat")
    await site.screenshot(page, "operator-machines")

    # --- splits: weights must reach 100 %, the preview follows every keystroke ------
    await page.get_by_role("tab", name="Splits").click()
    wallets = {wallet["name"]: wallet["id"] for wallet in operator.wallets}
    own_wallet = next(
        name
        for name in wallets
        if name not in ("Employee", "Maintenance") and not name.startswith("Lobby ATM")
    )
    rules = page.locator('[data-test="split-rule"]')
    for index, (label, wallet, percent) in enumerate(
        [
            ("Self", own_wallet, "50"),
            ("Employee", "Employee", "30"),
            ("Maintenance", "Maintenance", "10"),
        ]
    ):
        await page.locator('[data-test="add-rule"]').click()
        rule = rules.nth(index)
        await rule.get_by_label("Label").fill(label)
        await rule.get_by_label("Wallet", exact=True).click()
        await page.get_by_role("option", name=wallet, exact=True).click()
        await rule.get_by_label("Weight").fill(percent)
    await expect(page.locator('[data-test="weights-sum"]')).to_have_text(
        re.compile(r"90\.00 %")
    )
    await expect(page.locator('[data-test="rules-problem"]')).to_contain_text(
        "not 100 %"
    )
    await expect(page.locator('[data-test="save-rules"]')).to_be_disabled()

    await rules.nth(2).get_by_label("Weight").fill("20")
    await expect(page.locator('[data-test="rules-problem"]')).to_be_hidden()
    await field(page, "preview-commission").fill("100")
    preview = page.locator('[data-test="split-preview"]')
    await expect(preview.locator('[data-test="preview-platform"]')).to_have_text(
        "30 sat"
    )
    await expect(preview.locator('[data-test="preview-leg"]')).to_have_text(
        [
            re.compile(r"Self\s*35 sat"),
            re.compile(r"Employee\s*21 sat"),
            re.compile(r"Maintenance\s*14 sat"),
        ]
    )
    await site.screenshot(page, "operator-splits")
    await page.locator('[data-test="save-rules"]').click()
    await notification(page, "Split rules saved")
    saved = await site.api("GET", f"{API}/splits", account=operator)
    assert [(r["label"], r["wallet_id"], r["weight_bps"]) for r in saved["rules"]] == [
        ("Self", wallets[own_wallet], 5000),
        ("Employee", wallets["Employee"], 3000),
        ("Maintenance", wallets["Maintenance"], 2000),
    ]

    # --- a manual transaction, paid from the machine's wallet ----------------------
    await site.api(
        "PUT",
        "/users/api/v1/balance",
        account=site.super,
        body={"id": machine["wallet_id"], "amount": 210_000},
    )
    await page.get_by_role("tab", name="Settlements").click()
    await page.locator('[data-test="manual-tx"]').click()
    manual = page.locator('[data-test="manual-dialog"]')
    await choose(page, "manual-machine", "Lobby ATM")
    # The machine's fee schedule (the built-in one: no commission) would price it;
    # this commission is the operator's own, given with the reason.
    await manual.locator('[data-test="manual-fee-from-schedule"]').click()
    await page.locator('[data-test="manual-save"]').click()
    await expect(manual.get_by_text("A whole number of sats, 0 or more")).to_have_count(
        2
    )
    await field(page, "manual-principal").fill("200000")
    await field(page, "manual-fee").fill("10000")
    await field(page, "manual-fee-reason").fill("commission agreed with the customer")
    await field(page, "manual-fiat").fill("900.00")
    await field(page, "manual-rate").fill("500000.00")
    await field(page, "manual-txid").fill("manual-1")
    await page.locator('[data-test="manual-save"]').click()
    await notification(page, "inconsistent amounts")
    await field(page, "manual-fiat").fill("1000.00")
    await page.locator('[data-test="manual-save"]').click()
    await expect(manual).to_be_hidden()

    settlements = page.locator('[data-test="settlements-table"]')
    row = settlements.locator("tbody tr").filter(has_text="manual-1")
    # Every payout paid: "4/4 paid" (a settled settlement shows its progress).
    await expect(row).to_contain_text(re.compile(r"(\d+)/\1 paid"), timeout=30_000)
    await expect(page.locator('[data-test="period-totals"]')).to_contain_text(
        "10,000 sat"
    )
    await row.click()
    detail = page.locator('[data-test="settlement-detail"]')
    legs = detail.locator('[data-test="legs-table"] tbody tr')
    await expect(legs.filter(has_text="platform fee")).to_contain_text("3,000 sat")
    # Where the settlement came from and what each leg is, in words.
    await expect(detail).to_contain_text("recorded by hand")
    await expect(legs.filter(has_text="Self")).to_contain_text("operator's split")
    for label, paid in (
        ("Self", "3,500"),
        ("Employee", "2,100"),
        ("Maintenance", "1,400"),
    ):
        await expect(legs.filter(has_text=label)).to_contain_text(f"{paid} sat")
        await expect(legs.filter(has_text=label)).to_contain_text("paid")
    await site.screenshot(page, "operator-settlement-detail")
    await detail.get_by_role("button", name="Close").click()

    async with page.expect_download() as download_info:
        await page.locator('[data-test="export-csv"]').click()
    download = await download_info.value
    exported = list(csv.DictReader(io.StringIO((await download.path()).read_text())))
    assert [(r["tx_id"], r["commission_sats"], r["status"]) for r in exported] == [
        ("manual-1", "10000", "settled")
    ]

    # --- live: a settlement recorded elsewhere shows up without a reload -----------
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
        body=cash_out_body(machine["id"], tx_id="from-elsewhere"),
    )
    await expect(
        settlements.locator("tbody tr").filter(has_text="from-elsewhere")
    ).to_be_visible(timeout=15_000)

    # --- the filters narrow the table, the totals and the export -------------------
    await page.locator('[data-test="filter-machine"]').click()
    await page.get_by_role("option", name="Lobby ATM", exact=True).click()
    await expect(page.locator('[data-test="period-totals"]')).to_contain_text(
        "20,000 sat"
    )
    await site.screenshot(page, "operator-settlements")

    await page.get_by_role("tab", name="Overview").click()
    await expect(page.locator('[data-test="daily-chart"]')).to_be_visible()
    await site.screenshot(page, "operator-overview")
    assert_only_refusals(page, ["409 (Conflict)", "400 (Bad Request)"])


async def test_operator_enrols_an_lp_and_records_a_deposit(
    site: BrowserSite,  # noqa: F811
    platform_fee_30: None,
):
    operator = await site.new_account("operator")
    lp = await site.new_account("lp")
    page = await site.page_for(operator)
    await page.goto(f"{site.url}{DASHBOARD}")
    await page.get_by_role("tab", name="Liquidity providers").click()

    await page.locator('[data-test="enrol-lp"]').click()
    await field(page, "enrol-fiat").fill("GTQ")
    await page.locator('[data-test="enrol-save"]').click()
    await expect(
        page.locator('[data-test="enrol-dialog"]').get_by_text("The code is required")
    ).to_be_visible()
    # The LP's consent: the one-time code they made on their page.
    made = await site.api("POST", f"{API}/lp/code", account=lp, body={})
    await field(page, "enrol-code").fill(made["code"])
    await page.locator('[data-test="enrol-save"]').click()
    lps = page.locator('[data-test="lps-table"] tbody tr')
    await expect(lps.filter(has_text=lp.username)).to_be_visible()
    await expect(lps.filter(has_text=lp.username)).not_to_contain_text(lp.id)

    await lps.filter(has_text=lp.username).get_by_role("button", name="Deposit").click()
    await field(page, "deposit-amount").fill("-5")
    await page.locator('[data-test="deposit-save"]').click()
    await expect(
        page.locator('[data-test="deposit-dialog"]').get_by_text("An amount above 0")
    ).to_be_visible()
    # Typed as a Guatemalan or Spanish user may: a decimal comma, dots grouping.
    await field(page, "deposit-amount").fill("1.500,00")
    await page.locator('[data-test="deposit-save"]').click()
    await notification(page, "Deposit recorded and confirmed")
    await expect(lps.filter(has_text=lp.username)).to_contain_text("1,500.00 GTQ")
    await expect(
        page.locator('[data-test="deposits-table"] tbody tr').filter(
            has_text="1,500.00 GTQ"
        )
    ).to_contain_text("confirmed")
    [enrolment] = await site.api("GET", f"{API}/lps", account=operator)
    assert (enrolment["name"], enrolment["balance"]) == (lp.username, "1500.00")
    await site.screenshot(page, "operator-lps")
    assert page.console_errors == []


async def test_failed_payout_shows_up_for_attention_and_is_retried(
    site: BrowserSite,  # noqa: F811
    platform_fee_30: None,
):
    operator = await site.new_account("operator")
    machine = await site.add_machine(
        operator, {"name": "Corner ATM", "fiat_code": "GTQ"}
    )
    # A Lightning address on a name that does not exist (a public domain, as the
    # rules require): its leg fails on every attempt.
    await site.api(
        "PUT",
        f"{API}/splits",
        account=operator,
        body={
            "rules": [
                {
                    "label": "Tips",
                    "ln_address": "tips@unreachable.example.com",
                    "weight_bps": 10_000,
                }
            ]
        },
    )
    await site.api(
        "PUT",
        "/users/api/v1/balance",
        account=site.super,
        body={"id": machine["wallet_id"], "amount": 210_000},
    )
    settlement = await site.api(
        "POST",
        f"{API}/settlements/manual",
        account=operator,
        body=cash_out_body(machine["id"], tx_id="will-fail"),
    )

    page = await site.page_for(operator)
    await page.goto(f"{site.url}{DASHBOARD}")
    attention = page.get_by_role("tab", name=re.compile("Needs attention"))
    await expect(attention).to_contain_text("1", timeout=20_000)
    await attention.click()
    failed = page.locator('[data-test="worklist-table"] tbody tr').filter(
        has_text="will-fail"
    )
    await expect(failed).to_be_visible()
    await failed.get_by_role("button").first.click()
    detail = page.locator('[data-test="settlement-detail"]')
    tips = detail.locator('[data-test="legs-table"] tbody tr').filter(has_text="Tips")
    await expect(tips).to_contain_text("failed")
    await expect(tips).to_contain_text("7,000 sat")
    await site.screenshot(page, "operator-attention")
    await detail.get_by_role("button", name="Close").click()

    attempts_before = await _tips_attempts(site, operator, settlement["id"])
    await failed.get_by_role("button", name="Retry").click()
    await notification(page, "Retried 1 failed payout")
    # Retried at once, well before its own backoff (30 s after the first failure).
    for _ in range(20):
        if await _tips_attempts(site, operator, settlement["id"]) > attempts_before:
            break
        await page.wait_for_timeout(500)
    else:
        raise AssertionError("the retried leg was not attempted again")
    assert page.console_errors == []


async def _tips_attempts(running: BrowserSite, operator, settlement_id: str) -> int:
    detail = await running.api(
        "GET", f"{API}/settlements/{settlement_id}", account=operator
    )
    [tips] = [leg for leg in detail["legs"] if leg["label"] == "Tips"]
    return tips["attempts"]


async def test_a_failed_balance_settlement_is_held_then_voided(
    site: BrowserSite,  # noqa: F811
):
    operator = await site.new_account("operator")
    lp = await site.new_account("lp")
    enrolment = await site.enrol_lp(operator, lp)
    await site.confirmed_deposit(operator, enrolment["id"], "500.00")
    await site.api(
        "PUT",
        "/users/api/v1/balance",
        account=site.super,
        body={"id": operator.wallet_id, "amount": 1_000_000},
    )
    # LNbits refuses a payment within an hour of the wallet's last one (its
    # funding): the settlement is recorded, its payment fails.
    limit = {"lnbits_wallet_limit_secs_between_trans": 3600}
    await site.api("PATCH", "/admin/api/v1/settings", account=site.super, body=limit)
    try:
        failed = await site.api(
            "POST",
            f"{API}/lps/{enrolment['id']}/settle",
            account=operator,
            body={"wallet_id": operator.wallet_id, "fiat_amount": "100.00"},
        )
    finally:
        await site.api(
            "PATCH",
            "/admin/api/v1/settings",
            account=site.super,
            body={"lnbits_wallet_limit_secs_between_trans": 0},
        )
    assert failed["status"] == "failed", failed
    assert "time limit" in failed["last_error"]

    lp_page = await site.page_for(lp)
    await lp_page.goto(f"{site.url}/{EXT_ID}/lp")
    await expect(lp_page.get_by_test_id("total")).to_contain_text(
        "GTQ: 400.00 left of 500.00 deposited, 100.00 held"
    )
    await expect(lp_page.get_by_test_id("balance-settlements")).to_contain_text("held")
    await site.screenshot(lp_page, "lp-held-settlement")

    page = await site.page_for(operator)
    await page.goto(f"{site.url}{DASHBOARD}")
    attention = page.get_by_role("tab", name=re.compile("Needs attention"))
    await expect(attention).to_contain_text("1", timeout=20_000)
    await attention.click()
    row = page.locator('[data-test="failed-balance-settlements"] tbody tr').filter(
        has_text="100.00 GTQ"
    )
    await expect(row).to_contain_text("time limit")
    await expect(row).to_contain_text(lp.username)  # whose balance, by name
    await site.screenshot(page, "operator-failed-balance-settlement")
    await row.get_by_role("button", name="Void").click()
    await page.locator(".q-dialog").get_by_role("button", name="OK").click()
    await notification(page, "Voided: 100.00 GTQ back in the balance")
    await expect(row).to_have_count(0)
    [voided] = await site.api("GET", f"{API}/lps", account=operator)
    assert (voided["balance"], voided["held"], voided["voided"]) == (
        "500.00",
        "0.00",
        "100.00",
    )
    await lp_page.reload()
    await expect(lp_page.get_by_test_id("balance-settlements")).to_contain_text(
        "voided"
    )
    assert page.console_errors == []
    assert lp_page.console_errors == []


async def test_split_rules_can_be_edited_only_once_the_saved_ones_have_come(
    site: BrowserSite,  # noqa: F811
):
    """A rule added before the saved rules arrived would be replaced by them:
    the editor takes no input until they have come."""
    operator = await site.new_account("operator")
    rule = {"label": "Self", "wallet_id": operator.wallet_id, "weight_bps": 10_000}
    await site.api("PUT", f"{API}/splits", account=operator, body={"rules": [rule]})
    page = await site.page_for(operator)
    rules_may_come = await held_back(page, f"**{API}/splits")
    await page.goto(f"{site.url}{DASHBOARD}")
    await page.get_by_role("tab", name="Splits").click()
    add = page.locator('[data-test="add-rule"]')
    await expect(add).to_be_disabled()
    await expect(page.locator('[data-test="save-rules"]')).to_be_disabled()
    rules_may_come.set()
    rows = page.locator('[data-test="split-rule"]')
    await expect(rows).to_have_count(1)
    await expect(rows.nth(0).get_by_label("Label")).to_have_value("Self")
    await add.click()
    await expect(rows).to_have_count(2)
    await expect(rows.nth(0).get_by_label("Label")).to_have_value("Self")
    assert page.console_errors == []


async def test_the_settle_dialog_shows_the_balance_as_it_changes(
    site: BrowserSite,  # noqa: F811
):
    """A deposit confirmed (or a sale landing) while the operator has an LP's
    settle dialog open changes the remaining balance it shows."""
    operator = await site.new_account("operator")
    lp = await site.new_account("lp")
    enrolment = await site.enrol_lp(operator, lp)
    await site.confirmed_deposit(operator, enrolment["id"], "500.00")
    page = await site.page_for(operator)
    await page.goto(f"{site.url}{DASHBOARD}")
    await page.get_by_role("tab", name="Liquidity providers").click()
    row = page.locator('[data-test="lps-table"] tbody tr').filter(has_text=lp.username)
    await expect(row).to_contain_text("500.00 GTQ")
    await row.get_by_role("button", name="Settle balance").click()
    balance = page.locator('[data-test="settle-balance"]')
    await expect(balance).to_have_text("500.00 GTQ")
    await site.confirmed_deposit(operator, enrolment["id"], "250.00")
    await expect(balance).to_have_text("750.00 GTQ", timeout=20_000)
    assert page.console_errors == []

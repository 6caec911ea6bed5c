"""The operator page's tabs and dialogs, walked as a person would, for the
browser tests that look at each place in turn (tests/browser: the layout checks
and the Spanish check): ``walk_operator_page`` opens every tab and every dialog
and hands each place to ``look``. The business it needs (a failed payout, an LP
with deposits, a failed balance settlement) is made by ``failed_balance_settlement``
and the tests' own fixtures."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from browser_site import API, BrowserSite
from playwright.async_api import expect

if TYPE_CHECKING:
    from browser_site import BrowserPage

# The tabs in the order the page shows them (data-test="tabs").
OPERATOR_TABS = (
    "overview",
    "machines",
    "splits",
    "fees",
    "settlements",
    "attention",
    "lps",
    "alerts",
)

Look = Callable[[str], Awaitable[None]]


async def failed_balance_settlement(
    site: BrowserSite, operator, enrolment_id: str
) -> None:
    """LNbits refuses a payment within an hour of the wallet's last one (its
    funding): the settlement is recorded and held, its payment fails."""
    await site.api(
        "PUT",
        "/users/api/v1/balance",
        account=site.super,
        body={"id": operator.wallet_id, "amount": 1_000_000},
    )
    limit = "lnbits_wallet_limit_secs_between_trans"
    await site.api(
        "PATCH", "/admin/api/v1/settings", account=site.super, body={limit: 3600}
    )
    try:
        failed = await site.api(
            "POST",
            f"{API}/lps/{enrolment_id}/settle",
            account=operator,
            body={"wallet_id": operator.wallet_id, "fiat_amount": "100.00"},
        )
    finally:
        await site.api(
            "PATCH", "/admin/api/v1/settings", account=site.super, body={limit: 0}
        )
    assert failed["status"] == "failed", failed


async def open_dialog(
    page: BrowserPage, opener, where: str, look: Look, *, submit: bool = False
) -> None:
    """Opens a dialog, looks at it (after an empty submit when ``submit``: the
    form's checks then speak), and closes it."""
    await opener.click()
    dialog = page.locator(".q-dialog").last
    await expect(dialog).to_be_visible()
    if submit:
        await dialog.locator("button[type=submit]").first.click()
        await expect(dialog.locator(".q-field--error").first).to_be_visible()
    await look(where)
    await page.keyboard.press("Escape")
    await expect(page.locator(".q-dialog")).to_have_count(0)


async def walk_operator_page(page: BrowserPage, look: Look) -> None:
    """Every tab, then every dialog of the operator page, each handed to
    ``look`` by name."""
    tabs = page.locator('[data-test="tabs"] .q-tab')
    await expect(tabs).to_have_count(len(OPERATOR_TABS))
    for index, name in enumerate(OPERATOR_TABS):
        await tabs.nth(index).click()
        await look(f"tab {name}")

    def tab(name: str):
        return tabs.nth(OPERATOR_TABS.index(name))

    await tab("settlements").click()
    rows = page.locator('[data-test="settlements-table"] tbody tr')
    await open_dialog(page, rows.first, "settlement detail", look)
    await open_dialog(
        page, page.locator('[data-test="manual-tx"]'), "manual", look, submit=True
    )

    await tab("machines").click()
    await open_dialog(
        page, page.locator('[data-test="add-machine"]'), "machine", look, submit=True
    )
    await open_dialog(
        page, page.locator('[data-test="pair-machine"]'), "pairing", look, submit=True
    )
    cash = page.locator('[data-test="machine-cash-open"]').first
    await open_dialog(page, cash, "cash panel", look)

    await tab("lps").click()
    await open_dialog(
        page, page.locator('[data-test="enrol-lp"]'), "enrolment", look, submit=True
    )
    actions = page.locator('[data-test="lps-table"] tbody tr').first.locator("button")
    await open_dialog(page, actions.nth(0), "deposit", look, submit=True)
    await open_dialog(page, actions.nth(1), "settle", look, submit=True)
    await open_dialog(page, actions.nth(2), "payout schedules", look)

    await tab("attention").click()
    failed = page.locator('[data-test="failed-balance-settlements"] tbody tr').first
    # Void asks first (LNbits' confirmation dialog, with this extension's text).
    await open_dialog(page, failed.locator("button").last, "void confirmation", look)

    await tab("splits").click()
    await page.locator('[data-test="add-rule"]').click()
    await expect(page.locator('[data-test="rules-problem"]')).to_be_visible()
    await look("split rules with a problem")

"""An unconfigured platform, in headless Chromium against a real LNbits
(tests/browser_site.py): the super page lists what is left to set, the operator
page says the platform is not yet configured instead of showing a relay down; both
go away once the relays and the fee wallet are set."""

from __future__ import annotations

import pytest
from browser_site import (
    API,
    BrowserSite,
    site,  # noqa: F401
    skip_or_fail_without_browser,
)

pytestmark = pytest.mark.browser
skip_or_fail_without_browser(module=True)

from playwright.async_api import Page, expect  # noqa: E402

SUPER_PAGE = "/satmachineadmin/super"
OPERATOR_PAGE = "/satmachineadmin/"


def marked(page: Page, name: str):
    """An element of the operator page, marked data-test=name."""
    return page.locator(f'[data-test="{name}"]')


async def open_page(site: BrowserSite, page: Page, path: str) -> None:  # noqa: F811
    await page.goto(f"{site.url}{path}")
    # The page has loaded its settings once the server's key is shown (the super
    # page marks it with data-testid, the operator page with data-test).
    npub = page.get_by_test_id("server-npub").or_(marked(page, "server-npub"))
    await expect(npub).to_contain_text("npub1")


async def test_setup_checklist_until_relays_and_fee_wallet_are_set(site):  # noqa: F811
    unset: dict[str, object] = {
        "cash_in_fee_bps": 0,
        "cash_out_fee_bps": 0,
        "super_wallet_id": None,
        "relays": [],
    }
    await site.api("PUT", f"{API}/super/config", account=site.super, body=unset)
    operator = await site.new_account("op")
    super_page = await site.page_for(site.super)
    operator_page = await site.page_for(operator)

    await open_page(site, super_page, SUPER_PAGE)
    checklist = super_page.get_by_test_id("setup-checklist")
    await expect(checklist).to_be_visible()
    await expect(super_page.get_by_test_id("setup-relays")).to_contain_text(
        "Set the relays your machines connect to"
    )
    await expect(super_page.get_by_test_id("setup-wallet")).to_contain_text(
        "Choose the wallet the platform fee is paid into"
    )
    await site.screenshot(super_page, "super-setup-checklist")

    await open_page(site, operator_page, OPERATOR_PAGE)
    await expect(marked(operator_page, "platform-unconfigured")).to_contain_text(
        "Platform not yet configured"
    )
    await expect(marked(operator_page, "health-relays")).to_have_count(0)
    await site.screenshot(operator_page, "operator-platform-unconfigured")

    configured = {
        "relays": [site.relay_url],
        "local_only": True,
        "super_wallet_id": site.super.wallet_id,
    }
    await site.api("PUT", f"{API}/super/config", account=site.super, body=configured)
    await open_page(site, super_page, SUPER_PAGE)
    await expect(super_page.get_by_label("Relay 1", exact=True)).to_have_value(
        site.relay_url
    )
    await expect(checklist).to_have_count(0)
    await open_page(site, operator_page, OPERATOR_PAGE)
    await expect(marked(operator_page, "health-relays")).to_be_visible()
    await expect(marked(operator_page, "platform-unconfigured")).to_have_count(0)

    assert super_page.console_errors == []
    assert operator_page.console_errors == []

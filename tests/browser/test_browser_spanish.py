"""In Spanish (LNbits' language switch), no English of this extension is left on
any role's page: the operator's every tab with data in it and its dialogs (the
form checks' messages included), the LP's page and the super user's page."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from browser_site import (  # noqa: F401 (fixtures)
    API,
    EXT_ID,
    BrowserSite,
    set_language,
    site,
    site_config_for_module,
    untranslated,
)
from operator_walk import (
    OPERATOR_TABS,
    failed_balance_settlement,
    walk_operator_page,
)
from playwright.async_api import expect
from super_config import SuperConfigSetter

from helpers import cash_out_body

if TYPE_CHECKING:
    from browser_site import BrowserPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def business(
    site: BrowserSite,  # noqa: F811
    site_config_for_module: SuperConfigSetter,  # noqa: F811
) -> dict:
    """An operator with a machine, a split to a wallet and to a Lightning address
    (whose payment fails here), an LP with a confirmed and an unconfirmed
    deposit and a failed settlement of their balance, and one settlement with a
    failed payout."""
    await site_config_for_module.set(
        {
            "cash_out_fee_bps": 3000,
            "cash_in_fee_bps": 1000,
            "fee_basis": "commission",
            "super_wallet_id": site.super.wallet_id,
        }
    )
    operator = await site.new_account("operator")
    machine = await site.add_machine(
        operator, {"name": "Cajero Zona 10", "fiat_code": "GTQ", "location": "Zona 10"}
    )
    await site.api(
        "PUT",
        f"{API}/splits",
        account=operator,
        body={
            "rules": [
                {
                    "label": "Propinas",
                    "wallet_id": operator.wallet_id,
                    "weight_bps": 5000,
                },
                {
                    "label": "Mantenimiento",
                    "ln_address": "upkeep@example.com",
                    "weight_bps": 5000,
                },
            ]
        },
    )
    lp = await site.new_account("lp")
    made = await site.api("POST", f"{API}/lp/code", account=lp, body={})
    enrolment = await site.api(
        "POST",
        f"{API}/lps",
        account=operator,
        body={"code": made["code"], "fiat_code": "GTQ", "display_name": "María"},
    )
    await site.confirmed_deposit(operator, enrolment["id"], "5000.00")
    await site.record_deposit(operator, enrolment["id"], "250.00")  # unconfirmed
    await site.api(
        "PUT",
        "/users/api/v1/balance",
        account=site.super,
        body={"id": machine["wallet_id"], "amount": 1_000_000},
    )
    await site.api(
        "POST",
        f"{API}/settlements/manual",
        account=operator,
        body=cash_out_body(machine["id"], tx_id="zona10-0001"),
    )
    await failed_balance_settlement(site, operator, enrolment["id"])
    return {"operator": operator, "lp": lp, "machine": machine}


async def spanish_page(site: BrowserSite, account, path: str) -> BrowserPage:  # noqa: F811
    page = await site.page_for(account)
    await set_language(page, "es")
    await page.goto(f"{site.url}/{EXT_ID}/{path}")
    await expect(page.locator(".q-page-container .q-card").first).to_be_visible()
    return page


class Findings(list):
    """English found, place by place: every place is looked at, then all of it
    is reported at once."""

    async def look(self, page: BrowserPage, where: str) -> None:
        self.extend(f"{where}: {text}" for text in await untranslated(page, "es"))


async def test_the_operator_sees_no_english(
    site: BrowserSite,  # noqa: F811
    business: dict,
):
    found = Findings()
    page = await spanish_page(site, business["operator"], "")
    await (
        page.locator('[data-test="tabs"] .q-tab')
        .nth(OPERATOR_TABS.index("settlements"))
        .click()
    )
    await expect(page.locator('[data-test="settlement-progress"]')).to_contain_text(
        "de 4 pagos fallaron"
    )
    await (
        page.locator('[data-test="tabs"] .q-tab')
        .nth(OPERATOR_TABS.index("attention"))
        .click()
    )
    failed = page.locator('[data-test="failed-balance-settlements"] tbody tr').first
    await expect(failed).to_contain_text("fallido")

    async def look(where: str) -> None:
        await found.look(page, where)

    await walk_operator_page(page, look)
    assert found == [], "\n".join(found)


async def test_the_lp_sees_no_english(
    site: BrowserSite,  # noqa: F811
    business: dict,
):
    found = Findings()
    page = await spanish_page(site, business["lp"], "lp")
    await expect(page.get_by_test_id("balances").locator("tbody tr")).to_have_count(1)
    await found.look(page, "LP page")
    await page.get_by_test_id("make-code").click()
    await expect(page.get_by_test_id("enrol-code-left")).to_be_visible()
    await found.look(page, "LP page with an enrolment code")
    assert found == [], "\n".join(found)


async def test_the_super_user_sees_no_english(site: BrowserSite):  # noqa: F811
    found = Findings()
    page = await spanish_page(site, site.super, "super")
    await expect(page.get_by_test_id("relay-status")).to_be_visible()
    await found.look(page, "super page")
    assert found == [], "\n".join(found)


async def test_an_english_string_left_on_the_page_is_found(
    site: BrowserSite,  # noqa: F811
    business: dict,
):
    """The check itself: English put on a Spanish page is reported."""
    page = await spanish_page(site, business["lp"], "lp")
    await page.evaluate(
        "() => { const el = document.createElement('div');"
        " el.textContent = 'Nothing forwarded yet';"
        " document.querySelector('.q-page-container').appendChild(el) }"
    )
    found = await untranslated(page, "es")
    assert any("ui_nothing_forwarded_yet" in item for item in found), found

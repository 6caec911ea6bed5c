"""Every page of every role fits a laptop (1280 x 800) and a phone (390 x 844), in
LNbits' light and dark themes: no horizontal overflow of the page or of a table,
no 32-character hex id on screen, table text (a new settlement's highlight
included) at a contrast of at least 4.5:1, and no console error from this
extension's files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import pytest_asyncio
from browser_site import (  # noqa: F401 (fixtures)
    API,
    ARTIFACTS,
    EXT_ID,
    Account,
    BrowserSite,
    site,
    site_config_for_module,
)
from operator_walk import failed_balance_settlement, walk_operator_page
from playwright.async_api import expect
from super_config import SuperConfigSetter

from helpers import cash_out_body

if TYPE_CHECKING:
    from browser_site import BrowserPage

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VIEWPORTS = {"laptop": (1280, 800), "phone": (390, 844)}
THEMES = ("light", "dark")
OPERATOR_TABS = (
    "Overview",
    "Machines",
    "Splits",
    "Settlements",
    "Fees",
    "Needs attention",
    "Liquidity providers",
    "Alerts",
)
# Tabs whose tables are empty or absent in this business.
NO_TABLE_TEXT = ("Splits", "Alerts")

_CHECKS_FILE = Path(__file__).parents[1] / "support" / "page_checks.js"
# The function itself, without the file's leading comment.
CHECKS = "() =>" + _CHECKS_FILE.read_text().split("\n() =>", 1)[1]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def business(
    site: BrowserSite,  # noqa: F811
    site_config_for_module: SuperConfigSetter,  # noqa: F811
) -> dict:
    """An operator with a machine, a split that pays a wallet and a Lightning
    address (whose payment fails here: one failed leg of several), an LP with a
    name and a deposit, and one settlement."""
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
        operator, {"name": "Lobby ATM", "fiat_code": "GTQ", "location": "Zona 10"}
    )
    await site.api(
        "PUT",
        f"{API}/splits",
        account=operator,
        body={
            "rules": [
                {"label": "Tips", "wallet_id": operator.wallet_id, "weight_bps": 5000},
                {
                    "label": "Upkeep",
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
    await fund(site, machine["wallet_id"], 1_000_000)
    await site.api(
        "POST",
        f"{API}/settlements/manual",
        account=operator,
        body=cash_out_body(machine["id"], tx_id="lobby-0001"),
    )
    return {"operator": operator, "lp": lp, "machine": machine, "enrolment": enrolment}


@pytest_asyncio.fixture(loop_scope="session")
async def failed_settlement(site: BrowserSite, business: dict) -> None:  # noqa: F811
    """A failed settlement of the LP's balance, made for the test: the payout
    worker retries it, so one made for an earlier test may be paid by now."""
    await failed_balance_settlement(
        site, business["operator"], business["enrolment"]["id"]
    )


async def fund(site: BrowserSite, wallet_id: str, sats: int) -> None:  # noqa: F811
    await site.api(
        "PUT",
        "/users/api/v1/balance",
        account=site.super,
        body={"id": wallet_id, "amount": sats},
    )


async def open_page(
    site: BrowserSite,  # noqa: F811
    account: Account,
    path: str,
    viewport: str,
    theme: str,
) -> BrowserPage:
    page = await site.page_for(account)
    width, height = VIEWPORTS[viewport]
    await page.set_viewport_size({"width": width, "height": height})
    dark = "1" if theme == "dark" else "0"
    await page.context.add_init_script(
        f"localStorage.setItem('lnbits.darkMode', '__q_bool|{dark}')"
    )
    await page.goto(f"{site.url}/{EXT_ID}/{path}")
    await expect(page.locator(".q-table").first).to_be_visible()
    await page.wait_for_load_state("networkidle")
    return page


async def assert_readable(
    page: BrowserPage, where: str, *, tables: bool = True
) -> None:
    await page.wait_for_load_state("networkidle")
    found = await page.evaluate(CHECKS)
    if found["problems"]:
        slug = re.sub(r"\W+", "-", where)
        await page.screenshot(path=str(ARTIFACTS / f"failed-{slug}.png"))
    assert found["problems"] == [], f"{where}: {found['problems']}"
    assert found["checked"] > 0 or not tables, (
        f"{where}: no table text to check ({page.console_errors})"
    )


def assert_no_errors_of_ours(page: BrowserPage, where: str) -> None:
    ours = [
        error
        for error in page.console_errors
        if EXT_ID in error or error.startswith("pageerror")
    ]
    assert ours == [], f"{where}: {ours}"


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_the_operator_pages_fit_and_read(
    site: BrowserSite,  # noqa: F811
    business: dict,
    failed_settlement: None,
    viewport: str,
    theme: str,
):
    page = await open_page(site, business["operator"], "", viewport, theme)
    for tab in OPERATOR_TABS:
        await page.get_by_role("tab", name=re.compile(tab)).click()
        if viewport == "laptop" and theme == "light":
            slug = tab.lower().replace(" ", "-")
            await site.screenshot(page, f"tour-operator-{slug}")
        await assert_readable(
            page, f"{viewport} {theme} {tab}", tables=tab not in NO_TABLE_TEXT
        )

    await page.get_by_role("tab", name="Settlements").click()
    await page.locator('[data-test="settlements-table"] tbody tr').first.click()
    detail = page.locator('[data-test="settlement-detail"]')
    await expect(detail.locator('[data-test="legs-table"]')).to_be_visible()
    await assert_readable(page, f"{viewport} {theme} settlement detail")
    await detail.get_by_role("button", name="Close").click()
    assert_no_errors_of_ours(page, f"{viewport} {theme} operator")


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_the_operator_dialogs_fit_and_read(
    site: BrowserSite,  # noqa: F811
    business: dict,
    failed_settlement: None,
    viewport: str,
    theme: str,
):
    """Every dialog of the operator page, with its form's checks showing where it
    has a form."""
    page = await open_page(site, business["operator"], "", viewport, theme)

    async def look(where: str) -> None:
        await assert_readable(page, f"{viewport} {theme} {where}", tables=False)

    await walk_operator_page(page, look)
    assert_no_errors_of_ours(page, f"{viewport} {theme} operator dialogs")


@pytest.mark.parametrize("theme", THEMES)
async def test_a_new_settlement_is_highlighted_readably_and_fades(
    site: BrowserSite,  # noqa: F811
    business: dict,
    theme: str,
):
    page = await open_page(site, business["operator"], "", "laptop", theme)
    await page.get_by_role("tab", name="Settlements").click()
    await site.api(
        "POST",
        f"{API}/settlements/manual",
        account=business["operator"],
        body=cash_out_body(
            business["machine"]["id"],
            tx_id=f"lobby-new-{theme}",
            principal_sats=1_000,
            fee_sats=100,
            fiat_amount="5.00",
        ),
    )
    fresh = page.locator("tr.sm-fresh")
    await expect(fresh).to_have_count(1, timeout=30_000)
    # The highlight at its strongest: the animation held at its start.
    await page.evaluate(
        "document.getAnimations().forEach(a => { a.pause(); a.currentTime = 0 })"
    )
    await assert_readable(page, f"{theme} highlighted row")
    await page.evaluate("document.getAnimations().forEach(a => a.play())")
    await expect(fresh).to_have_count(0, timeout=30_000)  # it fades, then goes
    assert_no_errors_of_ours(page, f"{theme} highlight")


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("viewport", VIEWPORTS)
async def test_the_lp_and_super_pages_fit_and_read(
    site: BrowserSite,  # noqa: F811
    business: dict,
    viewport: str,
    theme: str,
):
    page = await open_page(site, business["lp"], "lp", viewport, theme)
    await assert_readable(page, f"{viewport} {theme} LP page")
    assert_no_errors_of_ours(page, f"{viewport} {theme} LP page")
    if viewport == "laptop" and theme == "light":
        await site.screenshot(page, "tour-lp")

    page = await open_page(site, site.super, "super", viewport, theme)
    await assert_readable(page, f"{viewport} {theme} super page")
    assert_no_errors_of_ours(page, f"{viewport} {theme} super page")
    if viewport == "laptop" and theme == "light":
        await site.screenshot(page, "tour-super")


async def test_the_operator_page_speaks_spanish(
    site: BrowserSite,  # noqa: F811
    business: dict,
):
    """LNbits' language switch (stored as lnbits.lang) relabels the tabs, the
    columns and the payouts' progress."""
    page = await site.page_for(business["operator"])
    await page.context.add_init_script(
        "localStorage.setItem('lnbits.lang', '__q_strn|es')"
    )
    await page.goto(f"{site.url}/{EXT_ID}/")
    for tab in (
        "Resumen",
        "Máquinas",
        "Repartos",
        "Liquidaciones",
        "Requiere atención",
        "Proveedores de liquidez",
    ):
        await expect(page.get_by_role("tab", name=re.compile(tab))).to_be_visible()
    await page.get_by_role("tab", name="Liquidaciones").click()
    table = page.locator('[data-test="settlements-table"]')
    for header in ("Fecha", "Máquina", "Sentido", "Estado"):
        await expect(table.locator("thead")).to_contain_text(header)
    await expect(table.locator("tbody")).to_contain_text("1 de 4 pagos fallaron")
    await page.get_by_role("tab", name=re.compile("Requiere atención")).click()
    await expect(page.get_by_text("Liquidaciones con pagos fallidos")).to_be_visible()
    await expect(page.get_by_role("button", name="Reintentar").first).to_be_visible()
    assert_no_errors_of_ours(page, "Spanish operator page")


async def test_the_lp_page_speaks_spanish(
    site: BrowserSite,  # noqa: F811
    business: dict,
):
    page = await site.page_for(business["lp"])
    await page.context.add_init_script(
        "localStorage.setItem('lnbits.lang', '__q_strn|es')"
    )
    await page.goto(f"{site.url}/{EXT_ID}/lp")
    for heading in ("Proveedor de liquidez", "Saldos", "Distribuciones"):
        await expect(page.get_by_text(heading, exact=True)).to_be_visible()
    balances = page.get_by_test_id("balances")
    for header in ("Operador", "Saldo"):
        await expect(balances.locator("thead")).to_contain_text(header)
    await expect(page.get_by_test_id("export-csv")).to_contain_text("Exportar CSV")
    assert_no_errors_of_ours(page, "Spanish LP page")


async def test_the_super_page_speaks_spanish(site: BrowserSite):  # noqa: F811
    page = await site.page_for(site.super)
    await page.context.add_init_script(
        "localStorage.setItem('lnbits.lang', '__q_strn|es')"
    )
    await page.goto(f"{site.url}/{EXT_ID}/super")
    for heading in ("Ajustes de la plataforma SatMachine", "Estado de los relés"):
        await expect(page.get_by_text(heading, exact=True)).to_be_visible()
    await expect(page.get_by_test_id("relay-status").locator("thead")).to_contain_text(
        "Relé"
    )
    await expect(page.get_by_role("button", name="Guardar tarifa")).to_be_visible()
    assert_no_errors_of_ours(page, "Spanish super page")

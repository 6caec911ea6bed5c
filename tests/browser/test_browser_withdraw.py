"""The operator dashboard in Chromium, for a cash-in by LNURL-withdraw whose
customer was not paid: the ATM (the simulator, over the site's relay) offers a
link, the customer's wallet (the simulator's, LUD-03 over HTTP) claims it with
an invoice LNbits cannot pay, and the transaction waits in *Needs attention*.
The operator issues a fresh link there, shown as a QR code with its LNURL, which
the customer's wallet then scans and is paid once."""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime
from hashlib import sha256

import pytest
from bolt11 import Bolt11, MilliSatoshi, TagChar, Tags, encode
from browser_site import (  # noqa: F401 (fixtures)
    API,
    EXT_ID,
    BrowserSite,
    site,
)
from playwright.async_api import expect

from helpers import load_simulator

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SIM = load_simulator()
SATS = 2000  # 10.00 GTQ at 500 000.00 GTQ/BTC, no fee schedule: no fee


def unpayable_invoice(sats: int) -> str:
    """An invoice of another node, which LNbits' FakeWallet fails to pay."""
    tags = Tags()
    tags.add(TagChar.description, "elsewhere")
    tags.add(TagChar.payment_secret, os.urandom(32).hex())
    tags.add(TagChar.payment_hash, sha256(os.urandom(32)).hexdigest())
    invoice = Bolt11(
        currency="bc",
        amount_msat=MilliSatoshi(sats * 1000),
        date=int(datetime.now().timestamp()),
        tags=tags,
    )
    return encode(invoice, os.urandom(32).hex())


async def test_an_unpaid_lnurl_cash_in_gets_a_fresh_link_from_the_dashboard(
    site: BrowserSite,  # noqa: F811
):
    from nostr_sdk import Keys

    operator = await site.new_account("operator")
    keys = Keys.generate()
    expected = await site.api(
        "POST",
        f"{API}/machines",
        account=operator,
        body={
            "name": "Mall ATM",
            "fiat_code": "GTQ",
            "npub": keys.public_key().to_bech32(),
        },
    )
    atm, token = SIM.BitspireSimulator.from_seed_url(
        expected["seed_url"],
        secret_key=keys.secret_key().to_hex(),
        timeout=30.0,
        log=lambda _: None,
    )
    async with atm:
        paired = await atm.pair(token)
        machine = await site.api(
            "GET", f"{API}/machines/{paired['machine_id']}", account=operator
        )
        await site.api(
            "PUT",
            "/users/api/v1/balance",
            account=site.super,
            body={"id": machine["wallet_id"], "amount": 50_000},
        )
        tx_id = f"lnurl-{uuid.uuid4().hex[:8]}"
        offered = await atm.call(
            "create_withdraw",
            {
                "tx_id": tx_id,
                "principal_sats": SATS,
                "fiat_amount": "10.00",
                "fiat_code": "GTQ",
                "exchange_rate": "500000.00",
            },
        )
        link = offered["result"]

        async def unpayable(sats: int) -> str:
            return unpayable_invoice(sats)

        failed = await SIM.lnurl_wallet(unpayable)(link["lnurl"])
        assert failed["status"] == "ERROR", failed

        page = await site.page_for(operator)
        await page.goto(f"{site.url}/{EXT_ID}/")
        attention = page.get_by_role("tab", name=re.compile("Needs attention"))
        await expect(attention).to_contain_text("1", timeout=20_000)
        await attention.click()
        row = page.locator('[data-test="abandoned-table"] tbody tr').filter(
            has_text=tx_id
        )
        await expect(row).to_contain_text("failed")
        await row.get_by_role("button", name="Resolve").click()
        await page.get_by_role("button", name="Issue link").click()
        fresh = page.locator('[data-test="fresh-link"]')
        qr = fresh.locator(".qrcode__wrapper")  # LNbits' own QR component
        await expect(qr.locator("svg").first).to_be_visible()
        lnurl_field = page.locator('input[data-test="fresh-link-lnurl"]')
        await expect(lnurl_field).to_have_value(re.compile("^LNURL1"))
        fresh_lnurl = await lnurl_field.input_value()
        await expect(qr.locator("a").first).to_have_attribute("title", fresh_lnurl)
        assert fresh_lnurl != link["lnurl"]
        await site.screenshot(page, "operator-fresh-withdraw-link")
        await page.get_by_role("button", name="Close").click()
        await expect(row).to_have_count(0)

        customer = await site.api("POST", "/api/v1/account", body={"name": "customer"})
        wallet = SIM.lnurl_wallet(SIM.lnbits_invoicer(site.url, customer["inkey"]))
        paid = await wallet(fresh_lnurl)
        assert paid["status"] == "OK", paid
        looked = await atm.call("lookup_invoice", {"tx_id": tx_id})
        assert looked["result"]["status"] == "paid"
    assert page.console_errors == []

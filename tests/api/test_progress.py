"""A settlement says how far its payouts got (done / total, failed, and why), in
the list and in the detail alike, and a retry's answer shows what it changed."""

from __future__ import annotations

import pytest_asyncio
from payout_business import Business, wait_for_status

from helpers import API, fund


@pytest_asyncio.fixture(loop_scope="session")
async def business(client, super_user, make_user, super_config) -> Business:
    return await Business(client, super_user, make_user, super_config).build()


async def test_one_failed_leg_of_six_is_counted_and_explained(client, business):
    # Enough for the commission's four legs and the first LP (60,000), not the
    # second LP's 40,000.
    await fund(business.machine["wallet_id"], 60_100)
    settlement = await business.cash_out()
    done = await wait_for_status(client, business.operator, settlement["id"], "failed")
    assert done["status"] == "failed", done
    assert (done["legs_total"], done["legs_done"], done["legs_failed"]) == (6, 5, 1)
    assert done["failure"]
    [failed] = [leg for leg in done["legs"] if leg["status"] == "failed"]
    assert done["failure"] == failed["last_error"]

    page = await client.get(
        f"{API}/settlements?limit=5", headers=business.operator.headers
    )
    [listed] = [row for row in page.json()["data"] if row["id"] == settlement["id"]]
    assert listed["legs"] is None
    assert {key: listed[key] for key in ("legs_total", "legs_done", "legs_failed")} == {
        "legs_total": 6,
        "legs_done": 5,
        "legs_failed": 1,
    }
    assert listed["failure"] == done["failure"]

    await fund(business.machine["wallet_id"], 40_000)
    retried = await client.post(
        f"{API}/settlements/{settlement['id']}/retry",
        headers=business.operator.headers,
    )
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert (body["status"], body["legs_done"], body["legs_failed"]) == ("settled", 6, 0)
    assert body["failure"] is None

"""Both CSV exports, the operator's and the LP's, read by Python's csv module as a
spreadsheet would: the same words for directions, ISO 8601 UTC times, machines by
name with their ids beside them."""

from __future__ import annotations

import csv
import io
import re

import pytest_asyncio
from payout_business import Business, wait_for_status

from helpers import API, fund

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")

# The headers people's spreadsheets are built on, stated here on purpose rather
# than imported (services.CSV_COLUMNS, services.LP_CSV_COLUMNS): renaming, dropping
# or reordering a column breaks their sheets, so it must fail this test first.
OPERATOR_COLUMNS = [
    "id",
    "created_at",
    "machine",
    "machine_id",
    "direction",
    "status",
    "source",
    "tx_id",
    "payment_hash",
    "gross_sats",
    "principal_sats",
    "commission_sats",
    "platform_fee_sats",
    "operator_fee_sats",
    "lp_allocated_sats",
    "unallocated_sats",
    "fiat_amount",
    "fiat_code",
    "exchange_rate",
    "note",
]

LP_COLUMNS = [
    "created_at",
    "settlement_id",
    "leg_id",
    "operator",
    "machine",
    "direction",
    "enrolment_id",
    "fiat_code",
    "fiat_amount",
    "sats",
    "exchange_rate",
    "cost_basis",
    "sats_per_fiat_unit",
    "status",
]


@pytest_asyncio.fixture(loop_scope="session")
async def business(client, super_user, make_user, super_config) -> Business:
    return await Business(client, super_user, make_user, super_config).build()


def _parse(response) -> tuple[list[str], list[dict]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    reader = csv.DictReader(io.StringIO(response.text, newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


async def test_both_exports_speak_the_same_words(client, business):
    await fund(business.machine["wallet_id"], 100_100)
    settlement = await business.cash_out(tx_id="export-1")
    await wait_for_status(client, business.operator, settlement["id"], "settled")

    columns, rows = _parse(
        await client.get(f"{API}/settlements.csv", headers=business.operator.headers)
    )
    assert columns == OPERATOR_COLUMNS
    [row] = rows
    assert row["id"] == settlement["id"]
    assert ISO_UTC.fullmatch(row["created_at"]), row["created_at"]
    assert (row["machine"], row["machine_id"]) == ("Pay ATM", business.machine["id"])
    assert (row["direction"], row["status"]) == ("cash-out", "settled")
    assert (row["fiat_amount"], row["fiat_code"]) == ("500.00", "GTQ")

    lp = business.lps[0]
    columns, lp_rows = _parse(
        await client.get(f"{API}/lp/distributions.csv", headers=lp.headers)
    )
    assert columns == LP_COLUMNS
    [lp_row] = lp_rows
    assert lp_row["settlement_id"] == settlement["id"]
    assert lp_row["created_at"] == row["created_at"]  # landed with its settlement
    assert (lp_row["machine"], lp_row["direction"]) == ("Pay ATM", "cash-out")
    assert lp_row["operator"] == business.operator.username
    assert (lp_row["fiat_amount"], lp_row["sats"]) == ("300.00", "60000")
    for text in (row.values(), lp_row.values()):
        assert not {"cash_out", "Direction.cash_out"} & set(text)

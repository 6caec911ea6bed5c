"""Hostile numbers, JSON, CSV cells and Lightning-address domains.

Every bad input is refused with a 400 (or ``bad_request`` over the RPC) and a plain
message, in a few milliseconds: while they are sent, a probe keeps asking LNbits'
``/api/v1/health`` and no answer may take 200 ms (one exchange rate of
"1e-30000000" used to hold the event loop, and with it every request, for 28 s).
"""

from __future__ import annotations

import asyncio
import csv
import gc
import io
import json
import time
from decimal import Decimal
from typing import Any

import pytest
from in_process_rpc import (
    Atm,
    cash_in_params,
    cash_out_params,
    mark_cancelled_after_payment,
    pay_from_customer,
    register,
)

from helpers import API, enrol_lp
from helpers import add_machine as add_confirmed_machine
from helpers import cash_out_body as cash_out
from satmachineadmin import fiat
from satmachineadmin.nostr import bounded_json
from satmachineadmin.services import balance_settlements

BAD_RATES = [
    "1e-30000000",
    "1e-999999",
    "1E+2",
    "1_000.00",
    "\uff15\uff10\uff10\uff10\uff10\uff10.\uff10\uff10",  # full-width digits
    "5" * 16,
    "500000.123456789",
    "0.00",
    "-500000",
    "+500000",
    "NaN",
    "Infinity",
    ".5",
    "5.",
    "1" * 5000,
]
BAD_AMOUNTS = [
    "1e999999",
    "1E+2",
    "1_000.00",
    "\uff11\uff12.\uff10\uff10",  # full-width "12.00"
    "\u00b2",  # superscript two: str.isdigit() says yes
    "-1000.00",
    "Infinity",
    "1" * 40,
    "1.000000001",
]
# What Python's own errors and pydantic's internals look like: never an answer.
INTERNALS = (
    "Traceback",
    "Exceeds the limit",
    "decimal.",
    "InvalidOperation",
    "Overflow",
    "too large to convert",
    "RecursionError",
    "maximum recursion",
    "<class",
    "internal server error",
)
PROBE_EVERY_S = 0.02


def nested(depth: int) -> list:
    """A list ``depth`` levels deep: [[[...]]]."""
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


WORST_PROBE_S = 0.2
WORST_WALL_S = 2.0


class HealthProbe:
    """Asks /api/v1/health every 20 ms and remembers the longest wait for an answer,
    counted from when the probe meant to ask (so a stall while it slept shows).

    Two clocks: the wall clock, and the CPU time of the thread running the event
    loop. A request that blocks the loop burns that thread's CPU, so the second
    measures the server alone; the first also counts the time the operating system
    gave the test process no core, which on a shared machine alone can exceed
    200 ms.
    """

    def __init__(self, client) -> None:
        self.client = client
        self.worst = 0.0
        self.worst_cpu = 0.0
        self.answers = 0
        self._task: asyncio.Task | None = None
        self._collecting = True

    async def _run(self) -> None:
        due, cpu_due = time.perf_counter(), time.thread_time()
        while True:
            response = await self.client.get("/api/v1/health")
            assert response.status_code == 200, response.text
            self.answers += 1
            self.worst = max(self.worst, time.perf_counter() - due)
            self.worst_cpu = max(self.worst_cpu, time.thread_time() - cpu_due)
            due = time.perf_counter() + PROBE_EVERY_S
            cpu_due = time.thread_time()
            await asyncio.sleep(PROBE_EVERY_S)

    async def __aenter__(self) -> HealthProbe:
        # The garbage collector's pauses belong to this test process, which holds
        # everything the session has built so far (late in the suite a full pass
        # takes a good part of 200 ms), not to the server's handling of the input.
        gc.collect()
        self._collecting = gc.isenabled()
        gc.disable()
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(PROBE_EVERY_S)
        return self

    async def __aexit__(self, *exc_info) -> None:
        if self._collecting:
            gc.enable()
        await asyncio.sleep(PROBE_EVERY_S)
        assert self._task is not None
        if self._task.done():
            self._task.result()  # re-raises the probe's failure
        self._task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self._task

    def assert_responsive(self) -> None:
        assert self.answers >= 5, "the probe hardly ran"
        assert self.worst_cpu < WORST_PROBE_S, (
            f"the event loop was busy {self.worst_cpu:.3f} s between two answers"
        )
        # A stall of the kind this guards against lasts seconds; scheduling
        # noise on a loaded machine stays well below this.
        assert self.worst < WORST_WALL_S, f"the server stalled {self.worst:.3f} s"


def message_of(response) -> str:
    """LNbits answers a domain error with a string and a model's validation error
    with pydantic's list; either way the text a person reads is the message."""
    detail = response.json()["detail"]
    if isinstance(detail, list):
        return " ".join(str(error.get("msg", "")) for error in detail)
    return str(detail)


def assert_plain_400(response, *, mentions: str) -> None:
    assert response.status_code == 400, response.text
    message = message_of(response)
    assert mentions.lower() in message.lower(), message
    for internal in INTERNALS:
        assert internal not in response.text, response.text
    assert len(message) < 300, message


def assert_bad_request(answer: dict, *, mentions: str) -> None:
    assert answer.get("error", {}).get("code") == "bad_request", answer
    message = answer["error"]["message"]
    assert mentions.lower() in message.lower(), message
    for internal in INTERNALS:
        assert internal not in message, message


async def add_machine(client, operator) -> dict:
    return await add_confirmed_machine(client, operator, fiat_code="GTQ")


async def funded_enrolment(client, operator, make_user) -> dict:
    lp = await make_user("lp")
    enrolment = await enrol_lp(client, operator, lp, "GTQ")
    deposit = await client.post(
        f"{API}/lps/{enrolment['id']}/deposits",
        json={"fiat_amount": "100.00"},
        headers=operator.headers,
    )
    assert deposit.status_code == 201, deposit.text
    confirmed = await client.put(
        f"{API}/deposits/{deposit.json()['id']}/confirm", headers=operator.headers
    )
    assert confirmed.status_code == 200, confirmed.text
    return enrolment


async def abandoned_cash_out(server, client, operator, make_user) -> dict:
    atm = Atm(server)
    await register(client, operator, atm)
    params = cash_out_params()
    invoice = (await atm.call("make_invoice", params))["result"]
    await pay_from_customer(make_user, invoice["bolt11"])
    await mark_cancelled_after_payment(params["tx_id"])
    queue = await client.get(f"{API}/abandoned", headers=operator.headers)
    return next(tx for tx in queue.json() if tx["tx_id"] == params["tx_id"])


# --- the parsers on their own ---------------------------------------------------------


@pytest.fixture
def built_numbers(monkeypatch) -> list[str]:
    """The texts fiat.py builds a Decimal from. A refusal that takes no time whatever
    the input is one made on the text, before a number is built from it: every
    number built has at most MAX_DECIMAL_CHARS characters, so no later arithmetic
    can grow with what the input asks for (a timed assertion would measure the
    machine's load instead)."""
    built: list[str] = []

    class Recorded(Decimal):
        def __new__(cls, value: object = "0", *args: Any) -> Recorded:
            built.append(str(value))
            return super().__new__(cls, value, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(fiat, "Decimal", Recorded)
    return built


def assert_small(built: list[str]) -> None:
    assert all(len(text) <= fiat.MAX_DECIMAL_CHARS for text in built), built


@pytest.mark.parametrize("rate", BAD_RATES)
def test_a_bad_rate_is_refused_on_its_text(rate, built_numbers):
    with pytest.raises(ValueError) as refused:
        fiat.parse_exchange_rate(rate)
    assert_small(built_numbers)
    assert "exchange rate" in str(refused.value)
    assert "Exceeds" not in str(refused.value)


@pytest.mark.parametrize("amount", BAD_AMOUNTS)
def test_a_bad_amount_is_refused_on_its_text(amount, built_numbers):
    with pytest.raises(ValueError) as refused:
        fiat.to_minor(amount, "GTQ")
    assert_small(built_numbers)
    assert "fiat amount" in str(refused.value)


def test_good_decimals_still_parse():
    assert fiat.to_minor("2000.50", "GTQ") == 200_050
    assert fiat.to_minor(" 12 ", "GTQ") == 1200
    assert fiat.to_minor("100.00", "JPY") == 100  # zero decimals beyond JPY's none
    assert fiat.to_minor("1.250", "KWD") == 1250
    assert str(fiat.parse_exchange_rate("0652431.17")) == "652431.17"
    assert fiat.rate_fraction(fiat.parse_exchange_rate("500000.5")) == (1000001, 2)
    with pytest.raises(ValueError, match="more decimals than GTQ"):
        fiat.to_minor("1.001", "GTQ")


def test_rate_fraction_refuses_an_unchecked_rate():

    class NoFraction(Decimal):
        def as_integer_ratio(self) -> tuple[int, int]:
            raise AssertionError("the fraction was built before the rate was checked")

    for unchecked in (NoFraction("1e-30000000"), NoFraction("1." + "1" * 100_000)):
        with pytest.raises(ValueError):
            fiat.rate_fraction(unchecked)


def test_a_market_price_becomes_a_checked_rate():
    assert str(fiat.rate_from_price(65_432.123456789)) == "65432.12"
    for unusable in (None, "65432", True, float("nan"), 1e300, 1e-300):
        with pytest.raises(ValueError):
            fiat.rate_from_price(unusable)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("[" * 65_000, "lists and objects"),
        ("]" * 65_000, ""),
        (json.dumps({"params": nested(16)}), "levels deep"),
        (json.dumps([[]] * 2_000), "lists and objects"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "lists and objects"),
        ('"' + '\\"' * 30_000, ""),
    ],
)
def test_deep_or_huge_json_is_refused(text, complaint):
    # How long a refusal takes is the health probe's business (below): it runs
    # these through the server and measures the event loop, not this machine.
    with pytest.raises(ValueError) as refused:
        bounded_json.loads(text)
    assert complaint in str(refused.value)


def test_ordinary_json_still_parses():
    request = {
        "id": "r1",
        "method": "report_dispense",
        "params": {"bills": [{"denomination": "100", "count": 3}] * 50},
    }
    assert bounded_json.loads(json.dumps(request)) == request
    assert bounded_json.loads(json.dumps(nested(16))) == nested(16)
    assert bounded_json.loads('{"memo": "[[[[[[[[[[[[[[[[[[[[[[[["}') == {
        "memo": "[[[[[[[[[[[[[[[[[[[[[[[["
    }


# --- through REST and RPC, with LNbits answering meanwhile ----------------------------


@pytest.mark.slow
async def test_no_bad_number_or_json_stalls_the_server(
    client, server, operator, make_user
):
    machine = await add_machine(client, operator)
    enrolment = await funded_enrolment(client, operator, make_user)
    abandoned = await abandoned_cash_out(server, client, operator, make_user)
    atm = Atm(server)
    await register(client, operator, atm)
    dispensable = cash_out_params()
    assert "result" in await atm.call("make_invoice", dispensable)
    cash_in = await cash_in_params((await make_user("cust")).wallet_id)
    headers = operator.headers

    async def post(path: str, body: dict):
        return await client.post(f"{API}{path}", json=body, headers=headers)

    async with HealthProbe(client) as probe:
        for rate in BAD_RATES:
            manual = await post(
                "/settlements/manual", cash_out(machine["id"], exchange_rate=rate)
            )
            assert_plain_400(manual, mentions="exchange rate")
            settle = await post(
                f"/lps/{enrolment['id']}/settle",
                {"wallet_id": operator.wallet_id, "exchange_rate": rate},
            )
            assert_plain_400(settle, mentions="exchange rate")
            for method, params in (
                ("make_invoice", cash_out_params()),
                ("pay_invoice", cash_in),
            ):
                answer = await atm.call(method, {**params, "exchange_rate": rate})
                assert_bad_request(answer, mentions="exchange rate")

        for amount in BAD_AMOUNTS:
            manual = await post(
                "/settlements/manual", cash_out(machine["id"], fiat_amount=amount)
            )
            assert_plain_400(manual, mentions="fiat amount")
            deposit = await post(
                f"/lps/{enrolment['id']}/deposits", {"fiat_amount": amount}
            )
            assert_plain_400(deposit, mentions="fiat amount")
            settle = await post(
                f"/lps/{enrolment['id']}/settle",
                {"wallet_id": operator.wallet_id, "fiat_amount": amount},
            )
            assert_plain_400(settle, mentions="fiat amount")
            resolve = await post(
                f"/abandoned/{abandoned['id']}/resolve",
                {"resolution": "partial", "dispensed_fiat": amount, "note": "jam"},
            )
            assert_plain_400(resolve, mentions="fiat amount")
            for method, params in (
                ("make_invoice", cash_out_params()),
                ("pay_invoice", cash_in),
            ):
                answer = await atm.call(method, {**params, "fiat_amount": amount})
                assert_bad_request(answer, mentions="fiat amount")
            dispensed = await atm.call(
                "report_dispense",
                {"tx_id": dispensable["tx_id"], "dispensed_fiat": amount},
            )
            assert_bad_request(dispensed, mentions="fiat amount")
        for bill, mentions in (
            ({"denomination": "1e3", "count": 1}, "denomination"),
            ({"denomination": "100", "count": 10**7}, "count"),
        ):
            answer = await atm.call(
                "report_dispense",
                {
                    "tx_id": dispensable["tx_id"],
                    "dispensed_fiat": "1000.00",
                    "bills": [bill],
                },
            )
            assert_bad_request(answer, mentions=mentions)

        for query, mentions in (
            ("since=99999999999999999999", "start date (since) is out of range"),
            ("until=99999999999999999999", "end date (until) is out of range"),
            ("since=" + "9" * 5000, "start date (since) is out of range"),
            ("until=9999-12-31", "end date (until) is out of range"),
            ("since=0001-01-01T00:00:00%2B14:00", "start date (since) is out of range"),
            ("since=%C2%B2", "start date (since) must be"),
            ("since=%EF%BC%91%EF%BC%92", "start date (since) must be"),
            ("since=yesterday", "start date (since) must be"),
            ("offset=9223372036854775808", "offset must be from 0"),
            ("offset=-1", "offset must be a whole number"),
            ("limit=%EF%BC%91%EF%BC%92", "page size (limit) must be a whole number"),
            ("limit=1_0", "page size (limit) must be a whole number"),
            ("limit=100000", "page size (limit) must be from 1 to 500"),
        ):
            listed = await client.get(f"{API}/settlements?{query}", headers=headers)
            assert_plain_400(listed, mentions=mentions)
        for path in ("/settlements.csv", "/settlements/totals"):
            response = await client.get(
                f"{API}{path}?since=99999999999999999999", headers=headers
            )
            assert_plain_400(response, mentions="start date")
        for path in ("/audit", "/rpc/log"):
            response = await client.get(f"{API}{path}?limit=%C2%B2", headers=headers)
            assert_plain_400(response, mentions="limit")
        for body in (
            '{"machine_id": ' + "[" * 100_000,
            json.dumps(cash_out(machine["id"]))[:-1]
            + ', "fee_sats": '
            + "9" * 5000
            + "}",
        ):
            raw = await client.post(
                f"{API}/settlements/manual",
                content=body,
                headers={**headers, "content-type": "application/json"},
            )
            assert_plain_400(raw, mentions="error parsing the body")

        for text, mentions in (
            ('{"id":"deep","method":"get_info","params":' + "[" * 60_000, "lists"),
            (
                json.dumps({"id": "deep", "method": "get_info", "params": {"a": 1}})[
                    :-1
                ]
                + ',"b":'
                + "[" * 900
                + "]" * 900
                + "}",
                "nested",
            ),
            (
                json.dumps({"id": "deep", "method": "get_info", "params": nested(17)}),
                "nested",
            ),
        ):
            answer = await atm.send(atm.event(text))
            assert answer is not None
            assert_bad_request(answer, mentions=mentions)

    print(f"probe: {probe.answers} answers, worst {probe.worst * 1000:.0f} ms")
    print(
        f"probe: worst event-loop CPU between answers {probe.worst_cpu * 1000:.0f} ms"
    )
    probe.assert_responsive()
    assert (await atm.call("get_info"))["result"]["machine_id"]


@pytest.mark.slow
async def test_good_numbers_still_work_through_rest_and_rpc(
    client, server, operator, make_user, monkeypatch
):
    machine = await add_machine(client, operator)
    manual = await client.post(
        f"{API}/settlements/manual",
        json=cash_out(machine["id"], exchange_rate="0500000.00", tx_id="leading-zero"),
        headers=operator.headers,
    )
    assert manual.status_code == 201, manual.text
    assert manual.json()["exchange_rate"] == "500000.00"
    page = await client.get(
        f"{API}/settlements?since=0&until=9999-12-30&limit=500&offset=0",
        headers=operator.headers,
    )
    assert page.status_code == 200, page.text
    assert page.json()["total"] == 1
    atm = Atm(server)
    await register(client, operator, atm)
    invoice = await atm.call("make_invoice", cash_out_params())
    assert "result" in invoice, invoice
    enrolment = await funded_enrolment(client, operator, make_user)
    settle = {
        "wallet_id": operator.wallet_id,
        "fiat_amount": "1.00",
        "exchange_rate": "0.00000001",
    }
    settled = await client.post(
        f"{API}/lps/{enrolment['id']}/settle", json=settle, headers=operator.headers
    )
    assert_plain_400(settled, mentions="0.00000001 GTQ/BTC is 100.00 % away")

    # With no LNbits rate to compare with, the operator may confirm their own: the
    # amount is still bounded before anything is recorded.
    async def no_price(code):
        return 0.0, 0.0

    monkeypatch.setattr(
        balance_settlements, "get_fiat_rate_and_price_satoshis", no_price
    )
    settled = await client.post(
        f"{API}/lps/{enrolment['id']}/settle",
        json=settle | {"confirm_without_market_rate": True},
        headers=operator.headers,
    )
    assert_plain_400(settled, mentions="21 million BTC")


# --- CSV ------------------------------------------------------------------------------


async def test_csv_cells_with_line_breaks_are_quoted_and_formulas_neutralised(
    client, operator
):
    machine = await add_machine(client, operator)
    hostile = {
        "bare-cr": "x\r=cmd|' /C calc'!A0",
        "bare-lf": "y\n=cmd|' /C calc'!A0",
        "formula": '=HYPERLINK("http://evil")',
        "blank-formula": "  +1+1",
    }
    for tx_id in hostile.values():
        created = await client.post(
            f"{API}/settlements/manual",
            json=cash_out(machine["id"], tx_id=tx_id, note="@SUM(1)"),
            headers=operator.headers,
        )
        assert created.status_code == 201, created.text
    exported = await client.get(
        f"{API}/settlements.csv?machine_id={machine['id']}", headers=operator.headers
    )
    assert exported.status_code == 200
    text = exported.text
    assert '"x\r=cmd' in text and '"y\n=cmd' in text
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert {row["tx_id"] for row in rows} == {
        hostile["bare-cr"],
        hostile["bare-lf"],
        "'" + hostile["formula"],
        "'" + hostile["blank-formula"],
    }
    assert {row["note"] for row in rows} == {"'@SUM(1)"}
    # Outside quotes, every line break is a row's CRLF: no bare CR or LF.
    outside = text.replace(f'"{hostile["bare-cr"]}"', "").replace(
        f'"{hostile["bare-lf"]}"', ""
    )
    assert outside.count("\r") == outside.count("\n") == outside.count("\r\n")


# --- Lightning-address domains --------------------------------------------------------

PRIVATE_ADDRESSES = [
    "x@localhost.localdomain",
    "x@metadata.google.internal",
    "x@2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid.onion",
    "x@printer.local",
    "x@router.home.arpa",
    "x@wallet.test",
    "x@nas.lan",
]


@pytest.mark.slow
async def test_lightning_addresses_must_be_on_public_domains(
    client, operator, make_user
):
    lp = await make_user("lp")
    await enrol_lp(client, operator, lp, "GTQ")
    for address in PRIVATE_ADDRESSES:
        rule = {"label": "tips", "ln_address": address, "weight_bps": 10_000}
        splits = await client.put(
            f"{API}/splits", json={"rules": [rule]}, headers=operator.headers
        )
        assert_plain_400(splits, mentions="not on a public domain")
        forwarding = await client.put(
            f"{API}/lp/forwarding",
            json={"ln_address": address, "fee_reserve_bps": 100},
            headers=lp.headers,
        )
        assert_plain_400(forwarding, mentions="not on a public domain")
    public = await client.put(
        f"{API}/lp/forwarding",
        json={"ln_address": "Savings@Wallet.Example.com", "fee_reserve_bps": 100},
        headers=lp.headers,
    )
    assert public.status_code == 200, public.text
    assert public.json()["ln_address"] == "savings@wallet.example.com"


def test_lnbits_private_lnurl_setting_allows_private_domains(monkeypatch):
    from lnbits.settings import settings

    from satmachineadmin.models import check_ln_address

    with pytest.raises(ValueError):
        check_ln_address("x@wallet.local")
    monkeypatch.setattr(settings, "lnbits_lnurl_allow_private_ips", True)
    assert check_ln_address("x@wallet.local") == "x@wallet.local"


async def test_an_address_saved_before_the_rule_is_not_fetched(monkeypatch):
    from satmachineadmin.models import LegRow
    from satmachineadmin.services import forwarding, payouts, sending

    fetched: list[str] = []

    async def fetch(address: str, amount_msat: int) -> str:
        fetched.append(address)
        raise AssertionError("a private domain must not be fetched")

    monkeypatch.setattr(sending, "get_pr_from_lnurl", fetch)
    leg: Any = LegRow.construct(ln_address="x@metadata.google.internal", sats=10)
    with pytest.raises(payouts.LegFailure, match="not on a public domain"):
        await payouts._lightning_address_invoice(leg)
    with pytest.raises(ValueError, match="not on a public domain"):
        await forwarding._invoice(leg)
    assert fetched == []

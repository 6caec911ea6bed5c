"""The bitSpire ATM simulator (tools/bitspire_sim.py), without an LNbits server.

The simulator does its Nostr work with rust-nostr (``nostr_sdk``); these tests check
it against this repository's own NIP-01/NIP-19/NIP-44 code in both directions, so
each implementation vouches for the other. A fake client stands in for the relay
connection where the RPC logic (retries, response matching, the customer flows) is
under test; one test goes through nostr_sdk's in-process relay, with the server
side on the ``websockets`` library and this repository's code.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from nostr_sdk import Event as SdkEvent

from helpers import load_simulator
from satmachineadmin.nostr.events import sign_event, verify_event
from satmachineadmin.nostr.keys import generate_private_key, public_key_hex
from satmachineadmin.nostr.nip19 import npub_encode, nsec_encode
from satmachineadmin.nostr.nip44 import decrypt, encrypt, get_conversation_key

bs = load_simulator()

SERVER_SK = generate_private_key()
SERVER_PK = public_key_hex(SERVER_SK)
OTHER_SK = generate_private_key()
RELAY = "ws://127.0.0.1:7777"


def _seed(**overrides: Any) -> str:
    query: list[tuple[str, str]] = [
        ("v", "1"),
        ("server", npub_encode(SERVER_PK)),
        ("relay", RELAY),
        ("relay", "wss://relay.example.com/nostr?x=1&y=2"),
        ("token", "tok-123_ABC"),
        ("operator", "Cajero Ñandú & Co."),
    ]
    for name, value in overrides.items():
        query = [(k, v) for k, v in query if k != name]
        if value is not None:
            query += [
                (name, v) for v in (value if isinstance(value, list) else [value])
            ]
    return f"bitspire://pair?{urlencode(query)}"


def _sim(**kw: Any) -> Any:
    kw.setdefault("server_pubkey", SERVER_PK)
    kw.setdefault("relays", [RELAY])
    kw.setdefault("log", lambda line: None)
    return bs.BitspireSimulator(**kw)


# ----------------------------------------------------------------------- seed URL


def test_seed_url_as_the_server_writes_it():
    seed = bs.parse_seed_url(_seed())
    assert seed.server == SERVER_PK
    assert seed.relays == [RELAY, "wss://relay.example.com/nostr?x=1&y=2"]
    assert seed.token == "tok-123_ABC"
    assert seed.operator == "Cajero Ñandú & Co."


def test_from_seed_url_returns_a_simulator_and_the_token():
    machine_sk = generate_private_key()
    sim, token = bs.BitspireSimulator.from_seed_url(
        _seed(), secret_key=nsec_encode(machine_sk), log=print
    )
    assert token == "tok-123_ABC"
    assert sim.server_hex == SERVER_PK
    assert sim.relays == [RELAY, "wss://relay.example.com/nostr?x=1&y=2"]
    assert sim.operator == "Cajero Ñandú & Co."
    # rust-nostr's NIP-19 and key derivation agree with ours.
    assert sim.pubkey_hex == public_key_hex(machine_sk)
    assert sim.npub == npub_encode(public_key_hex(machine_sk))
    assert sim.nsec == nsec_encode(machine_sk)


def test_seed_url_accepts_a_hex_server_and_no_operator():
    seed = bs.parse_seed_url(_seed(server=SERVER_PK, operator=None, relay=RELAY))
    assert (seed.server, seed.relays, seed.operator) == (SERVER_PK, [RELAY], None)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (_seed().replace("bitspire://", "https://"), "scheme"),
        (_seed().replace("://pair", "://unpair"), "bitspire://pair"),
        (_seed(v=None), "lacks 'v'"),
        (_seed(v="2"), "version"),
        (_seed(v=["1", "1"]), "2 'v'"),
        (_seed(server=None), "lacks 'server'"),
        (_seed(server="npub1notakey"), "not a public key"),
        (_seed(server=SERVER_PK[:-2]), "not a public key"),
        (_seed(relay=None), "lacks 'relay'"),
        (_seed(relay=""), "lacks 'relay'"),
        (_seed(relay="http://127.0.0.1:7777"), "ws://"),
        (_seed(token=None), "lacks 'token'"),
        (_seed(token=""), "lacks 'token'"),
        (_seed(token=["a", "b"]), "2 'token'"),
    ],
)
def test_bad_seed_urls_are_refused(url, why):
    with pytest.raises(ValueError, match=why):
        bs.parse_seed_url(url)
    with pytest.raises(ValueError):
        bs.BitspireSimulator.from_seed_url(url)


# ------------------------------------------------------------------------ amounts


@pytest.mark.parametrize(
    ("fiat", "rate", "bps", "principal", "fee"),
    [
        ("200.00", "650000.00", 500, 30769, 1538),  # 30769.23, 1538.45
        ("2000.00", "652431.17", 500, 306546, 15327),  # 306545.67.., 15327.3
        ("9.20", "80000000.00", 0, 12, 0),  # 11.5 up; floats give 11
        ("30770.00", "100000000.00", 500, 30770, 1539),  # fee 1538.5 up
        ("10", "100000000", 500, 10, 1),  # fee 0.5 up, banker's would give 0
        ("5", "200000000", 0, 3, 0),  # 2.5 up, banker's would give 2
        ("0.01", "650000.00", 500, 2, 0),  # 1.538 -> 2, fee 0.1 -> 0
        ("123456789.99", "1.00", 10_000, 12345678999000000, 12345678999000000),
    ],
)
def test_amounts_are_exact_decimal_half_up(fiat, rate, bps, principal, fee):
    amounts = bs.compute_amounts(fiat, rate, bps)
    assert (amounts.principal_sats, amounts.fee_sats) == (principal, fee)
    assert amounts.amount_sats == principal + fee
    assert amounts.payout_sats == principal - fee
    exact = Decimal(fiat) * 100_000_000 / Decimal(rate)
    assert abs(Decimal(amounts.principal_sats) - exact) <= Decimal("0.5")


def test_amounts_refuse_floats_and_bad_numbers():
    with pytest.raises(TypeError):
        bs.compute_amounts(200.0, "650000.00", 500)
    with pytest.raises(TypeError):
        bs.compute_amounts("200.00", 650000.0, 500)
    with pytest.raises(TypeError):
        bs.compute_amounts("200.00", "650000.00", 5.0)
    with pytest.raises(TypeError):
        bs.compute_amounts("200.00", "650000.00", True)
    for fiat, rate, bps in [
        ("2e2", "650000", 500),
        ("-200", "650000", 500),
        ("1,000.00", "650000", 500),
        ("", "650000", 500),
        (" 200", "650000", 500),
        ("200.", "650000", 500),
        ("NaN", "650000", 500),
        ("200", "0.00", 500),
        ("200", "650000", -1),
        ("200", "650000", 10_001),
    ]:
        with pytest.raises(ValueError):
            bs.compute_amounts(fiat, rate, bps)


# --------------------------------------------------- NIP-44 / NIP-01 both ways


def test_request_event_verifies_and_decrypts_with_our_nostr_code():
    machine_sk = generate_private_key()
    sim = _sim(secret_key=machine_sk)
    request = {
        "id": "req-1",
        "method": "make_invoice",
        "params": {"tx_id": "t", "fiat_amount": "200.00", "memo": 'ñandú 🦄 "q"'},
    }
    event = json.loads(sim.build_request_event(request).as_json())
    assert verify_event(event)
    assert event["kind"] == 21000
    assert event["pubkey"] == public_key_hex(machine_sk) == sim.pubkey_hex
    assert event["tags"] == [["p", SERVER_PK]]
    assert abs(event["created_at"] - time.time()) < 5
    key = get_conversation_key(SERVER_SK, sim.pubkey_hex)
    assert json.loads(decrypt(event["content"], key)) == request


def test_retry_is_a_new_event_with_the_same_request():
    sim = _sim()
    request = {"id": "same", "method": "get_info", "params": {}}
    first, second = (
        json.loads(sim.build_request_event(request).as_json()) for _ in "12"
    )
    assert first["id"] != second["id"]
    assert first["content"] != second["content"]
    key = get_conversation_key(SERVER_SK, sim.pubkey_hex)
    assert decrypt(first["content"], key) == decrypt(second["content"], key)


def test_simulator_decrypts_what_our_code_encrypts():
    sim = _sim()
    key = get_conversation_key(SERVER_SK, sim.pubkey_hex)
    for plaintext in ["x", '{"id":"a","result":{}}', "ñ🦄" * 5000, "z" * 65535]:
        assert sim.decrypt_from_server(encrypt(plaintext, key)) == plaintext


# --------------------------------------------------- RPC over a fake connection


class FakeClient:
    """Stands in for nostr_sdk.Client: records what the simulator sends."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.on_send: Callable[[dict], None] | None = None
        self.arrived = asyncio.Event()

    async def send_event(self, event: SdkEvent) -> SimpleNamespace:
        data = json.loads(event.as_json())
        self.sent.append(data)
        self.arrived.set()
        if self.on_send:
            self.on_send(data)
        return SimpleNamespace(success=["ws://fake"], failed={})

    async def shutdown(self) -> None:
        pass


def _connected(**kw: Any) -> tuple[Any, FakeClient]:
    sim = _sim(**kw)
    client = FakeClient()
    sim._client = client
    return sim, client


def _request_of(sim: Any, sent: dict) -> dict:
    key = get_conversation_key(SERVER_SK, sim.pubkey_hex)
    return json.loads(decrypt(sent["content"], key))


def _response(
    sim: Any,
    request_event_id: str,
    body: dict,
    *,
    author_sk: str = SERVER_SK,
    p: str | None = None,
) -> SdkEvent:
    """A response as our server code would build it, as a nostr_sdk Event."""
    key = get_conversation_key(author_sk, sim.pubkey_hex)
    event = sign_event(
        private_key_hex=author_sk,
        kind=21000,
        content=encrypt(json.dumps(body), key),
        tags=[["p", p or sim.pubkey_hex], ["e", request_event_id]],
    )
    return SdkEvent.from_json(json.dumps(event.to_dict()))


async def _first_request(client: FakeClient, count: int = 1) -> None:
    while len(client.sent) < count:
        client.arrived.clear()
        await asyncio.wait_for(client.arrived.wait(), 5)


async def test_response_matching_ignores_the_wrong_author_p_e_and_id():
    sim, client = _connected(retry_every=5, timeout=5)
    call = asyncio.ensure_future(sim.call("get_info", request_id="r-1"))
    await _first_request(client)
    sent = client.sent[0]
    ok = {"id": "r-1", "result": {"machine_id": "m"}}

    # Signed by someone else (encrypted to us with their key): ignored.
    assert not sim.handle_event(_response(sim, sent["id"], ok, author_sk=OTHER_SK))
    # Tagged for another machine.
    other_pk = public_key_hex(OTHER_SK)
    assert not sim.handle_event(_response(sim, sent["id"], ok, p=other_pk))
    # Answering an event we never sent.
    assert not sim.handle_event(_response(sim, "ab" * 32, ok))
    # Carrying another request's id.
    assert not sim.handle_event(_response(sim, sent["id"], {**ok, "id": "r-2"}))
    # Neither result nor error.
    assert not sim.handle_event(_response(sim, sent["id"], {"id": "r-1"}))
    # Tampered after signing.
    forged = json.loads(_response(sim, sent["id"], ok).as_json())
    forged["created_at"] += 1
    assert not sim.handle_event(SdkEvent.from_json(json.dumps(forged)))
    # Not even NIP-44 from the server.
    junk = sign_event(
        private_key_hex=SERVER_SK,
        kind=21000,
        content="not a payload",
        tags=[["p", sim.pubkey_hex], ["e", sent["id"]]],
    )
    assert not sim.handle_event(SdkEvent.from_json(json.dumps(junk.to_dict())))
    await asyncio.sleep(0)
    assert not call.done()

    assert sim.handle_event(_response(sim, sent["id"], ok))
    assert await call == ok
    # Once answered, a repeat (e.g. from a second relay) changes nothing.
    assert not sim.handle_event(_response(sim, sent["id"], ok))
    assert sim._pending == {} and sim._request_of_event == {}


async def test_a_response_to_an_earlier_attempt_is_accepted():
    sim, client = _connected(retry_every=0.15, timeout=5)
    call = asyncio.ensure_future(sim.call("get_balance", request_id="bal", retries=3))
    await _first_request(client, 2)
    first, second = client.sent[0], client.sent[1]
    assert first["id"] != second["id"]
    assert _request_of(sim, first) == _request_of(sim, second)
    assert _request_of(sim, first) == {
        "id": "bal",
        "method": "get_balance",
        "params": {},
    }
    body = {"id": "bal", "result": {"balance_sats": 21}}
    assert sim.handle_event(_response(sim, first["id"], body))
    assert await call == body
    assert sim.last_call["attempts"] == 2
    assert sim.last_call["event_ids"] == [first["id"], second["id"]]


async def test_no_response_retries_then_times_out():
    lines: list[str] = []
    sim, client = _connected(retry_every=0.05, timeout=5, log=lines.append)
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="4 attempt"):
        await sim.call("get_info", {"x": 1}, retries=3)
    assert 0.15 < time.monotonic() - started < 2
    assert len(client.sent) == 4
    assert len({e["id"] for e in client.sent}) == 4
    requests = [_request_of(sim, e) for e in client.sent]
    assert all(r == requests[0] for r in requests)
    assert requests[0]["params"] == {"x": 1}
    assert sum("retry" in line for line in lines) == 3
    assert sim._pending == {} and sim._request_of_event == {}


async def test_timeout_caps_the_retries():
    sim, client = _connected(retry_every=0.1, timeout=0.25)
    with pytest.raises(TimeoutError):
        await sim.call("get_info", retries=10)
    assert len(client.sent) == 3


async def test_call_needs_a_connection():
    with pytest.raises(RuntimeError, match="connect"):
        await _sim().call("get_info")


class FakeServer:
    """Answers the simulator's requests as the contract says, with our code."""

    def __init__(self, sim: Any, client: FakeClient, lookups_pending: int = 1):
        self.sim = sim
        self.requests: list[dict] = []
        self.lookups_pending = lookups_pending
        client.on_send = self.receive

    def receive(self, event: dict) -> None:
        assert verify_event(event)
        request = _request_of(self.sim, event)
        self.requests.append(request)
        result = self.answer(request["method"], request["params"])
        response = _response(self.sim, event["id"], {"id": request["id"], **result})
        asyncio.get_running_loop().call_soon(self.sim.handle_event, response)

    def answer(self, method: str, params: dict) -> dict:
        if method == "make_invoice":
            return {
                "result": {
                    "payment_hash": "11" * 32,
                    "bolt11": "lnbc1fake",
                    "expires_at": 1,
                }
            }
        if method == "lookup_invoice":
            self.lookups_pending -= 1
            status = "pending" if self.lookups_pending >= 0 else "paid"
            return {"result": {"status": status, "amount_sats": 1, "paid_at": None}}
        if method == "report_dispense":
            return {"result": {"settlement_id": "s-1", "status": "settled"}}
        if method == "pay_invoice":
            return {
                "result": {
                    "payment_hash": "22" * 32,
                    "status": "paid",
                    "fee_paid_sats": 0,
                }
            }
        if method == "cancel_transaction":
            return {"result": {"status": "cancelled"}}
        if method == "create_withdraw":
            return {
                "result": {
                    "lnurl": "LNURL1FAKE",
                    "url": "https://atm.example/satmachineadmin/lnurl/w/" + "ab" * 32,
                    "amount_sats": 29231,
                    "fee_sats": 1538,
                    "fee_version": 7,
                    "expires_at": 1,
                }
            }
        return {"error": {"code": "unknown_method", "message": method}}


async def test_cash_out_sends_exactly_the_contract_params():
    sim, client = _connected(retry_every=1, timeout=5)
    server = FakeServer(sim, client)
    paid: list[str] = []

    async def pay(bolt11: str) -> None:
        paid.append(bolt11)

    summary = await sim.cash_out(
        fiat_amount="200.00",
        exchange_rate="650000.00",
        pay=pay,
        dispensed_fiat="100.00",
        poll_every=0.01,
    )
    assert paid == ["lnbc1fake"]
    methods = [r["method"] for r in server.requests]
    assert methods == [
        "make_invoice",
        "lookup_invoice",
        "lookup_invoice",
        "report_dispense",
    ]
    invoice = server.requests[0]["params"]
    assert set(invoice) == {
        "tx_id",
        "amount_sats",
        "principal_sats",
        "fee_sats",
        "fiat_amount",
        "fiat_code",
        "exchange_rate",
        "memo",
        "expiry_s",
    }
    assert invoice["principal_sats"] == 30769
    assert invoice["fee_sats"] == 1538
    assert invoice["amount_sats"] == 32307
    assert invoice["fiat_amount"] == "200.00"
    assert invoice["exchange_rate"] == "650000.00"
    assert invoice["fiat_code"] == "GTQ"
    for value in invoice.values():
        assert not isinstance(value, float)
    assert server.requests[1]["params"] == {"payment_hash": "11" * 32}
    assert server.requests[3]["params"] == {
        "tx_id": invoice["tx_id"],
        "dispensed_fiat": "100.00",
    }
    assert summary["tx_id"] == invoice["tx_id"]
    assert summary["paid"] is True
    assert summary["payment_hash"] == "11" * 32
    assert summary["settlement_id"] == "s-1"
    assert summary["statuses"]["lookup_invoice"] == "paid"
    assert summary["statuses"]["report_dispense"] == "settled"
    assert {"make_invoice", "pay", "lookup", "dispense"} <= set(summary["latencies_ms"])


async def test_cash_out_unpaid_is_cancelled():
    sim, client = _connected(retry_every=1, timeout=5)
    server = FakeServer(sim, client, lookups_pending=100)

    async def pay(bolt11: str) -> None:
        pass

    summary = await sim.cash_out(
        fiat_amount="50.00",
        exchange_rate="650000.00",
        pay=pay,
        paid_timeout=0.05,
        poll_every=0.01,
    )
    assert summary["paid"] is False
    assert server.requests[-1]["method"] == "cancel_transaction"
    assert set(server.requests[-1]["params"]) == {"tx_id", "reason"}


async def test_cash_out_error_response_raises_with_the_summary():
    sim, client = _connected(retry_every=1, timeout=5)
    server = FakeServer(sim, client)
    server.answer = lambda method, params: {  # type: ignore[method-assign]
        "error": {"code": "inconsistent_amounts", "message": "no"}
    }
    with pytest.raises(bs.RpcError) as raised:
        await sim.cash_out(fiat_amount="200.00", exchange_rate="650000.00")
    assert raised.value.code == "inconsistent_amounts"
    assert raised.value.summary["statuses"]["make_invoice"] == (
        "error:inconsistent_amounts"
    )


async def test_cash_in_sends_exactly_the_contract_params():
    sim, client = _connected(retry_every=1, timeout=5)
    server = FakeServer(sim, client)
    asked: list[int] = []

    async def invoice_for(sats: int) -> str:
        asked.append(sats)
        return "lnbc1customer"

    summary = await sim.cash_in(
        fiat_amount="200.00", exchange_rate="650000.00", invoice_for=invoice_for
    )
    assert asked == [30769 - 1538]
    (request,) = server.requests
    assert request["method"] == "pay_invoice"
    assert request["params"] == {
        "tx_id": summary["tx_id"],
        "bolt11": "lnbc1customer",
        "principal_sats": 30769,
        "fee_sats": 1538,
        "fiat_amount": "200.00",
        "fiat_code": "GTQ",
        "exchange_rate": "650000.00",
    }
    assert summary["status"] == "paid"
    assert summary["payment_hash"] == "22" * 32


async def test_cash_in_by_lnurl_sends_exactly_the_contract_params():
    sim, client = _connected(retry_every=1, timeout=5)
    sim.fees = {"version": 7}
    server = FakeServer(sim, client, lookups_pending=0)
    scanned: list[str] = []

    async def withdraw(lnurl: str) -> dict:
        scanned.append(lnurl)
        return {"status": "OK"}

    summary = await sim.cash_in_lnurl(
        fiat_amount="200.00",
        exchange_rate="650000.00",
        withdraw=withdraw,
        expiry_s=120,
        poll_every=0.01,
    )
    create, lookup = server.requests
    assert create["method"] == "create_withdraw"
    # No fee_sats: the server prices it.
    assert create["params"] == {
        "tx_id": summary["tx_id"],
        "principal_sats": 30769,
        "fiat_amount": "200.00",
        "fiat_code": "GTQ",
        "exchange_rate": "650000.00",
        "fee_version": 7,
        "expiry_s": 120,
    }
    assert scanned == ["LNURL1FAKE"]
    assert lookup["method"] == "lookup_invoice"
    assert lookup["params"] == {"tx_id": summary["tx_id"]}
    assert (summary["fee_sats"], summary["payout_sats"]) == (1538, 29231)
    assert summary["status"] == "paid"


async def test_pair_sends_the_token():
    sim, client = _connected(retry_every=1, timeout=5)
    server = FakeServer(sim, client)
    server.answer = lambda method, params: {  # type: ignore[method-assign]
        "result": {"machine_id": "m-1", "name": "ATM", "fiat_code": "GTQ"}
    }
    assert (await sim.pair("tok"))["machine_id"] == "m-1"
    assert server.requests == [
        {"id": server.requests[0]["id"], "method": "pair", "params": {"token": "tok"}}
    ]


# ------------------------------------------------------------------------ the CLI


@pytest.mark.parametrize(
    "argv",
    [
        ["--server", SERVER_PK, "--relay", "ws://a", "info"],
        ["info", "--server", SERVER_PK, "--relay", "ws://a"],
    ],
)
def test_common_options_go_before_or_after_the_command(argv):
    args = bs._build_parser().parse_args(argv)
    assert (args.command, args.server, args.relays) == ("info", SERVER_PK, ["ws://a"])
    assert args.timeout == 10.0


def test_cash_out_command_line():
    args = bs._build_parser().parse_args(
        ["cash-out", "--fiat", "200.00", "--rate", "650000.00", "--dispensed", "100.00"]
    )
    assert (args.fiat, args.rate, args.dispensed) == ("200.00", "650000.00", "100.00")


# ------------------------------------------- through a real (in-process) relay


@pytest.mark.slow  # a relay on a socket
async def test_round_trip_through_nostr_sdk_local_relay():
    """Simulator (rust-nostr) -> LocalRelay -> a server on websockets + our code.

    The server ignores the first event of each request, so the answer comes only
    for the retry, through the simulator's real subscription.
    """
    import websockets
    from nostr_sdk import LocalRelay, RelayBuilder

    relay = LocalRelay(RelayBuilder().addr("127.0.0.1"))
    await relay.run()
    url = str(await relay.url())
    seen_ids: set[str] = set()
    beacons: list[dict] = []

    async def server() -> None:
        async with websockets.connect(url) as ws:
            await ws.send(
                json.dumps(["REQ", "rpc", {"kinds": [21000], "#p": [SERVER_PK]}])
            )
            await ws.send(json.dumps(["REQ", "beacons", {"kinds": [30078]}]))
            async for raw in ws:
                message = json.loads(raw)
                if message[0] != "EVENT":
                    continue
                event = message[2]
                assert verify_event(event)
                if event["kind"] == 30078:
                    beacons.append(event)
                    continue
                key = get_conversation_key(SERVER_SK, event["pubkey"])
                request = json.loads(decrypt(event["content"], key))
                if request["id"] not in seen_ids:
                    seen_ids.add(request["id"])  # drop the first attempt
                    continue
                body = {"id": request["id"], "result": {"protocol_version": 1}}
                response = sign_event(
                    private_key_hex=SERVER_SK,
                    kind=21000,
                    content=encrypt(json.dumps(body), key),
                    tags=[["p", event["pubkey"]], ["e", event["id"]]],
                )
                await ws.send(json.dumps(["EVENT", response.to_dict()]))

    server_task = asyncio.ensure_future(server())
    try:
        await asyncio.sleep(0.2)
        sim = _sim(relays=[url], retry_every=0.5, timeout=5)
        async with sim:
            response = await sim.call("get_info", request_id="via-relay")
            assert response == {"id": "via-relay", "result": {"protocol_version": 1}}
            assert sim.last_call["attempts"] == 2
            event_id = await sim.publish_beacon(created_at=1_700_000_000, name="ATM 1")
            for _ in range(100):
                if beacons:
                    break
                await asyncio.sleep(0.02)
        (beacon,) = beacons
        assert beacon["id"] == event_id
        assert beacon["pubkey"] == sim.pubkey_hex
        assert beacon["created_at"] == 1_700_000_000
        assert beacon["tags"] == [["d", "bitspire-beacon"]]
        assert json.loads(beacon["content"]) == {
            "cash_in": True,
            "cash_out": True,
            "cash_level": "ok",
            "fiat": "GTQ",
            "model": "bitspire-sim",
            "name": "ATM 1",
        }
    finally:
        server_task.cancel()
        await asyncio.gather(server_task, return_exceptions=True)
        relay.shutdown()


# ------------------------------------------------------------------ fee schedule


def test_amounts_add_the_schedules_fixed_fee():
    amounts = bs.compute_amounts("200.00", "650000.00", 500, 250)
    assert (amounts.principal_sats, amounts.fee_sats) == (30769, 1538 + 250)
    with pytest.raises(ValueError):
        bs.compute_amounts("200.00", "650000.00", 500, -1)
    with pytest.raises(TypeError):
        bs.compute_amounts("200.00", "650000.00", 500, 1.0)


SCHEDULE = {
    "schema_version": 1,
    "machine_id": "m",
    "version": 4,
    "issued_at": 1,
    "fiat_code": "GTQ",
    "cash_out": {"commission_bps": 400, "fixed_fee_sats": 100},
    "cash_in": {"commission_bps": 300, "fixed_fee_sats": 0},
}


async def test_the_fetched_schedule_prices_both_directions():
    sim, client = _connected(retry_every=1, timeout=5)
    server = FakeServer(sim, client)
    fake_answer = server.answer
    server.answer = lambda method, params: (  # type: ignore[method-assign]
        {"result": SCHEDULE} if method == "get_fees" else fake_answer(method, params)
    )
    assert await sim.fee_schedule() == SCHEDULE

    async def pay(bolt11: str) -> None:
        pass

    await sim.cash_out(
        fiat_amount="200.00", exchange_rate="650000.00", pay=pay, poll_every=0.01
    )
    invoice = server.requests[1]["params"]
    # 4 % of 30 769 is 1 230.76, half up 1 231, and the fixed 100.
    assert (invoice["fee_sats"], invoice["fee_version"]) == (1331, 4)
    assert invoice["amount_sats"] == 30769 + 1331

    async def invoice_for(sats: int) -> str:
        return "lnbc1customer"

    await sim.cash_in(
        fiat_amount="200.00", exchange_rate="650000.00", invoice_for=invoice_for
    )
    paid = server.requests[-1]["params"]
    assert (paid["fee_sats"], paid["fee_version"]) == (923, 4)  # 923.07

    # A fee given explicitly is the machine's own: no version is named.
    await sim.cash_in(
        fiat_amount="200.00",
        exchange_rate="650000.00",
        fee_bps=500,
        invoice_for=invoice_for,
    )
    own = server.requests[-1]["params"]
    assert own["fee_sats"] == 1538 and "fee_version" not in own


async def test_a_server_without_a_schedule_leaves_the_machines_fee():
    sim, client = _connected(retry_every=1, timeout=5)
    FakeServer(sim, client)  # answers get_fees with unknown_method, as v1 does
    assert await sim.fee_schedule() is None
    assert sim.pricing("cash_out", None) == (500, 0, None)


class CashServer(FakeServer):
    """A server with cassettes: two of 100.00 and ten of 50.00 loaded."""

    def answer(self, method: str, params: dict) -> dict:
        if method == "get_cassettes":
            return {
                "result": {
                    "schema_version": 1,
                    "version": 3,
                    "issued_at": 1,
                    "positions": {
                        "1": {"denomination": "100.00", "count": 2, "capacity": 500},
                        "2": {"denomination": "50.00", "count": 10, "capacity": 500},
                    },
                }
            }
        if method == "report_cash":
            return {"result": {"recorded": True}}
        return super().answer(method, params)


async def test_a_machine_with_cassettes_reports_its_bills_and_counts():
    sim, client = _connected(retry_every=1, timeout=5)
    server = CashServer(sim, client)
    assert sim.bills_for("100.00") is None  # nothing fetched yet
    assert (await sim.cassettes())["version"] == 3
    assert sim.bills_for("30.00") is None  # no bills make it

    async def pay(bolt11: str) -> None:
        pass

    await sim.cash_out(
        fiat_amount="350.00", exchange_rate="650000.00", pay=pay, poll_every=0.01
    )
    (dispense,) = [r for r in server.requests if r["method"] == "report_dispense"]
    assert dispense["params"]["bills"] == [
        {"denomination": "100.00", "count": 2},
        {"denomination": "50.00", "count": 3},
    ]
    await sim.report_cash("count-1", cashbox={"count": 4, "fiat": "200.00"})
    report = server.requests[-1]
    assert report["method"] == "report_cash"
    assert report["params"] == {
        "report_id": "count-1",
        "positions": {
            "1": {"denomination": "100.00", "count": 0},
            "2": {"denomination": "50.00", "count": 7},
        },
        "cashbox": {"count": 4, "fiat": "200.00"},
    }

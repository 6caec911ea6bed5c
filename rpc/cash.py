"""The cash in the machine on the wire (contract §9.4): ``get_cassettes``
returns the cassette document the server publishes; ``report_cash`` records the
machine's own count, once per ``report_id``; the ``bills`` of
``report_dispense`` lower the server's estimate until the next count."""

from __future__ import annotations

from .. import fiat, services
from ..errors import SatMachineError
from ..models import MachineRow
from .errors import RpcError
from .idempotency import once
from .params import Bill, ReportCashParams, parse_params


async def get_cassettes(machine: MachineRow, params: dict) -> dict:
    current = await services.current_document(machine.id)
    if current is None:
        raise RpcError(
            "not_found", "the operator has set no cassettes for this machine"
        )
    return current[1]


def _minor(value: str, code: str, what: str) -> int:
    try:
        return fiat.to_minor(value, code)
    except ValueError as exc:
        raise RpcError("bad_request", f"{what}: {exc}") from exc


def _counts(p: ReportCashParams, document: dict, code: str) -> dict[str, int]:
    """The reported counts, checked against the cassettes the machine was
    sent: a known position, its denomination, at most its capacity."""
    positions = document["positions"]
    counts: dict[str, int] = {}
    for position, reported in p.positions.items():
        cassette = positions.get(position)
        if cassette is None:
            raise RpcError(
                "bad_request",
                f"no cassette at position {position} in cassette document "
                f"version {document['version']}",
            )
        denomination = _minor(reported.denomination, code, "denomination")
        if denomination != fiat.to_minor(cassette["denomination"], code):
            raise RpcError(
                "conflict",
                f"position {position} holds {cassette['denomination']} bills in "
                f"cassette document version {document['version']}",
            )
        if reported.count > cassette["capacity"]:
            raise RpcError(
                "bad_request",
                f"position {position} holds at most {cassette['capacity']} bills",
            )
        counts[position] = reported.count
    return counts


async def report_cash(machine: MachineRow, params: dict) -> dict:
    p = parse_params(ReportCashParams, params)
    current = await services.current_document(machine.id)
    if current is None or machine.fiat_code is None:
        raise RpcError(
            "not_found", "the operator has set no cassettes for this machine"
        )
    code = machine.fiat_code
    counts = _counts(p, current[1], code)
    cashbox_fiat = (
        None if p.cashbox is None else _minor(p.cashbox.fiat, code, "cashbox fiat")
    )

    async def effect() -> dict:
        try:
            await services.record_report(
                machine,
                report_id=p.report_id,
                counts=counts,
                cashbox_count=None if p.cashbox is None else p.cashbox.count,
                cashbox_fiat_minor=cashbox_fiat,
            )
        except SatMachineError as exc:
            raise RpcError("conflict", exc.message) from exc
        return {"recorded": True}

    return await once(machine, "report_cash", p.report_id, params, effect)


def bills_by_denomination(bills: list[Bill] | None, code: str) -> dict[int, int]:
    """The bills of a dispense report in minor units, summed per denomination."""
    totals: dict[int, int] = {}
    for bill in bills or []:
        denomination = _minor(bill.denomination, code, "bills")
        if denomination <= 0:
            raise RpcError("bad_request", "bills: a denomination must be above zero")
        totals[denomination] = totals.get(denomination, 0) + bill.count
    return totals

"""Settlements as the operator reads them: list, detail, totals, CSV, worklist."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from .. import audit, crud, fiat
from ..database import transaction
from ..errors import NotFound
from ..helpers import direction_word, iso_utc, now
from ..models import (
    CurrencyTotals,
    DailyMachineStats,
    Direction,
    LegKind,
    LegRow,
    Settlement,
    SettlementLeg,
    SettlementPage,
    SettlementRow,
    SettlementTotals,
)
from . import payouts
from .accounts import enrolment_name, to_model, wallet_name

# Legs that pay someone else's wallet: the super user's (platform fee) or an LP's.
# The operator sees the label and the enrolment, never that wallet's id.
_OTHER_PEOPLES_LEGS = frozenset(
    (LegKind.platform_fee, LegKind.lp_distribution, LegKind.lp_balance_settlement)
)


def shown_wallet_id(kind: LegKind | str, wallet_id: str | None) -> str | None:
    return None if LegKind(kind) in _OTHER_PEOPLES_LEGS else wallet_id


def _shown_fee_snapshot(stored: str) -> dict:
    snapshot = json.loads(stored)
    snapshot.pop("super_wallet_id", None)
    return snapshot


PLATFORM_FEE_NAME = "Platform fee"


async def target_names(operator_id: str, legs: Iterable[LegRow]) -> dict[str, str]:
    """Who each leg pays, as people know them (by leg id): the platform, the LP's
    name, the operator's own wallet by its name, or the Lightning address."""
    legs = list(legs)
    lp_names: dict[str, str] = {}
    if any(leg.lp_enrolment_id for leg in legs):
        for enrolment in await crud.list_enrolments(operator_id=operator_id):
            lp_names[enrolment.id] = await enrolment_name(enrolment)
    names: dict[str, str] = {}
    for leg in legs:
        if leg.kind == LegKind.platform_fee:
            name: str | None = PLATFORM_FEE_NAME
        elif leg.lp_enrolment_id:
            name = lp_names.get(leg.lp_enrolment_id)
        else:
            name = leg.ln_address or await wallet_name(leg.wallet_id)
        names[leg.id] = name or leg.label
    return names


def _leg(
    row: LegRow, fiat_code: str, names: dict[str, str] | None = None
) -> SettlementLeg:
    fiat_minor = row.fiat_minor
    return to_model(
        SettlementLeg,
        row,
        target_name=(names or {}).get(row.id),
        wallet_id=shown_wallet_id(row.kind, row.wallet_id),
        fiat_amount=None
        if fiat_minor is None
        else fiat.to_decimal_string(fiat_minor, fiat_code),
    )


def progress(legs: list[LegRow]) -> dict[str, Any]:
    """How far a settlement's payouts got: "3 of 4 paid", "1 failed", and why."""
    failed = [leg for leg in legs if leg.status == "failed"]
    return {
        "legs_total": len(legs),
        "legs_done": sum(leg.status in payouts.DONE for leg in legs),
        "legs_failed": len(failed),
        "failure": failed[0].last_error if failed else None,
    }


def _settlement(
    row: SettlementRow,
    legs: list[LegRow] | None = None,
    names: dict[str, str] | None = None,
    *,
    with_legs: bool = True,
) -> Settlement:
    return to_model(
        Settlement,
        row,
        **(progress(legs) if legs is not None else {}),
        fiat_amount=fiat.to_decimal_string(row.fiat_amount_minor, row.fiat_code),
        fee_snapshot=_shown_fee_snapshot(row.fee_snapshot),
        split_snapshot=json.loads(row.split_snapshot),
        legs=None
        if legs is None or not with_legs
        else [_leg(leg, row.fiat_code, names) for leg in legs],
    )


async def get_settlement(operator_id: str, settlement_id: str) -> Settlement:
    row = await crud.get_settlement(
        settlement_id=settlement_id, operator_id=operator_id
    )
    if row is None:
        raise NotFound(f"no settlement '{settlement_id}' in your account")
    legs = await crud.get_legs(settlement_ids=[settlement_id])
    return _settlement(row, legs, await target_names(operator_id, legs))


@dataclass(frozen=True)
class SettlementFilter:
    machine_id: str | None = None
    status: str | None = None
    direction: Direction | None = None
    since: int | None = None
    until: int | None = None

    def query(self, operator_id: str) -> dict[str, Any]:
        """The keyword arguments of crud's settlement queries."""
        return {
            "operator_id": operator_id,
            "machine_id": self.machine_id,
            "status": self.status,
            "direction": self.direction.value if self.direction else None,
            "since": self.since,
            "until": self.until,
        }


async def list_settlements(
    operator_id: str, filters: SettlementFilter, *, limit: int, offset: int
) -> SettlementPage:
    rows, total = await crud.list_settlements(
        **filters.query(operator_id),
        limit=limit,
        offset=offset,
    )
    legs = _by_settlement(await crud.get_legs(settlement_ids=[row.id for row in rows]))
    return SettlementPage(
        data=[_settlement(row, legs.get(row.id, []), with_legs=False) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


def _by_settlement(legs: list[LegRow]) -> dict[str, list[LegRow]]:
    found: dict[str, list[LegRow]] = {}
    for leg in legs:
        found.setdefault(leg.settlement_id, []).append(leg)
    return found


_SAT_TOTALS = (
    "settlements",
    "gross_sats",
    "commission_sats",
    "platform_fee_sats",
    "operator_fee_sats",
    "lp_allocated_sats",
)


async def settlement_totals(
    operator_id: str, filters: SettlementFilter
) -> SettlementTotals:
    rows = await crud.settlement_totals(
        **filters.query(operator_id),
    )
    by_currency = [
        to_model(
            CurrencyTotals,
            row,
            fiat_amount=fiat.to_decimal_string(row.fiat_amount_minor, row.fiat_code),
        )
        for row in rows
    ]
    return SettlementTotals(
        by_currency=by_currency,
        **{key: sum(getattr(row, key) for row in rows) for key in _SAT_TOTALS},
    )


async def daily_stats(operator_id: str, *, days: int) -> list[DailyMachineStats]:
    """The last ``days`` UTC days, today included."""
    until = (now() // 86400 + 1) * 86400
    rows = await crud.daily_settlement_stats(
        operator_id=operator_id, since=until - days * 86400, until=until
    )
    return [
        DailyMachineStats(
            day=datetime.fromtimestamp(row.day * 86400, tz=timezone.utc)
            .date()
            .isoformat(),
            machine_id=row.machine_id,
            settlements=row.settlements,
            gross_sats=row.gross_sats,
            commission_sats=row.commission_sats,
        )
        for row in rows
    ]


CSV_COLUMNS = (
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
)


_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r", "\n")


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell starting like a formula runs as one in a spreadsheet, also after
    # leading blanks, which some spreadsheets skip.
    lead = text.lstrip(" ")[:1]
    return f"'{text}" if lead and lead in _FORMULA_LEADS else text


def csv_text(columns: tuple[str, ...], rows: Iterable[dict]) -> str:
    out = io.StringIO()
    # The csv module quotes a cell holding a character of the line terminator:
    # with "\r\n" (RFC 4180) every cell with a CR or an LF is quoted, so a bare
    # CR cannot end a row and start a new cell in a spreadsheet that reads it so.
    writer = csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(_csv_cell(row[column]) for column in columns)
    return out.getvalue()


def export_row(row: dict[str, Any], **names: str) -> dict[str, Any]:
    """One row of either export (the operator's and the LP's), in the same words:
    times in ISO 8601 UTC, directions as cash-out / cash-in, names beside ids."""
    return {
        **row,
        **names,
        "created_at": iso_utc(row["created_at"]),
        "direction": direction_word(row.get("direction")),
    }


async def settlements_csv(operator_id: str, filters: SettlementFilter) -> str:
    rows, _ = await crud.list_settlements(**filters.query(operator_id))
    machines = {
        machine.id: machine.name
        for machine in await crud.list_machines(operator_id=operator_id)
    }
    return csv_text(
        CSV_COLUMNS,
        (
            export_row(
                _settlement(row).dict(), machine=machines.get(row.machine_id, "")
            )
            for row in rows
        ),
    )


async def worklist(operator_id: str) -> list[Settlement]:
    rows = [
        SettlementRow.parse_obj(row)  # the payout queue reads settlements as dicts
        for row in await crud.list_settlements_with_failed_legs(operator_id=operator_id)
    ]
    legs = await crud.get_legs(settlement_ids=[row.id for row in rows])
    names = await target_names(operator_id, legs)
    by_settlement = _by_settlement(legs)
    return [_settlement(row, by_settlement.get(row.id, []), names) for row in rows]


async def retry_settlement(operator_id: str, settlement_id: str) -> Settlement:
    """Pays the failed legs again, now; legs already paid are never touched."""
    settlement = await get_settlement(operator_id, settlement_id)
    await crud.make_failed_legs_due(settlement_id=settlement_id, now=now())
    await payouts.process_settlement(settlement_id)
    async with transaction() as conn:
        await audit.record(
            conn,
            actor=operator_id,
            operator_id=operator_id,
            action="settlement.retry",
            object_type="settlement",
            object_id=settlement.id,
            detail={},
        )
    return await get_settlement(operator_id, settlement_id)

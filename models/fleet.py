"""Running a fleet: each machine's notes, its cassettes and refills (contract
§9.4), and the cash the dashboard shows."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import Field, StrictStr, conint, validator

from .base import ApiModel, RowModel, amount_string, optional_amount

MAX_NOTE_CHARS = 2_000
MAX_CASSETTES = 16
MAX_CASSETTE_CAPACITY = 100_000
MAX_CASHBOX_CAPACITY = 1_000_000
POSITION = re.compile(r"^[1-9][0-9]?$")

if TYPE_CHECKING:
    CassetteCapacity = int
    CashboxCapacity = int
    BillCount = int
else:
    CassetteCapacity = conint(strict=True, ge=1, le=MAX_CASSETTE_CAPACITY)
    CashboxCapacity = conint(strict=True, ge=1, le=MAX_CASHBOX_CAPACITY)
    BillCount = conint(strict=True, ge=0, le=MAX_CASHBOX_CAPACITY)


class NoteCreate(ApiModel):
    text: StrictStr = Field(..., description=f"1..{MAX_NOTE_CHARS} characters.")

    class Config:
        extra = "forbid"

    @validator("text")
    def _text(cls, value: str) -> str:
        text = value.strip()
        if not text:
            raise ValueError("a note needs some text")
        if len(text) > MAX_NOTE_CHARS:
            raise ValueError(f"a note is at most {MAX_NOTE_CHARS} characters")
        return text


class MachineNote(ApiModel):
    id: str
    machine_id: str
    author: str = Field(..., description="Who wrote it, by name.")
    created_at: int
    text: str


class MachineNoteRow(RowModel):
    id: str
    machine_id: str
    seq: int
    operator_id: str
    author_id: str
    author_name: str
    text: str
    created_at: int


def _positions_one_to_n(positions: list[str]) -> None:
    expected = [str(n) for n in range(1, len(positions) + 1)]
    if sorted(positions, key=int) != expected:
        raise ValueError(
            "the positions must be numbered 1 to n, each once "
            f"(here: {', '.join(expected)})"
        )


class CassetteSpec(ApiModel):
    position: StrictStr = Field(..., description='"1" to "n".')
    denomination: StrictStr = Field(..., description='A decimal string, e.g. "100".')
    capacity: CassetteCapacity

    class Config:
        extra = "forbid"

    @validator("position")
    def _position(cls, value: str) -> str:
        if not POSITION.match(value):
            raise ValueError('a position is a number from "1" to "99"')
        return value

    _denomination = validator("denomination", allow_reuse=True)(amount_string)


class CassettesUpdate(ApiModel):
    """A machine's cassettes, all of them; counts carry over where a position
    keeps its denomination."""

    cassettes: list[CassetteSpec] = Field(..., max_items=MAX_CASSETTES, min_items=1)
    cashbox_capacity: CashboxCapacity | None = Field(
        None, description="Bills the cash-in box holds; null: not known."
    )

    class Config:
        extra = "forbid"

    @validator("cassettes")
    def _numbered(cls, value: list[CassetteSpec]) -> list[CassetteSpec]:
        _positions_one_to_n([c.position for c in value])
        return value


class RefillCreate(ApiModel):
    """A refill: the count in each cassette after loading; optionally what was
    found in each before (reconciled against the estimate) and what the
    cashbox held when emptied."""

    loaded: dict[StrictStr, BillCount] = Field(..., description="Position → count.")
    found: dict[StrictStr, BillCount] = Field(
        default_factory=dict, description="Position → count found before loading."
    )
    cashbox_count: BillCount | None = None
    cashbox_fiat: str | None = None

    class Config:
        extra = "forbid"

    _fiat = validator("cashbox_fiat", pre=True, allow_reuse=True)(optional_amount)

    @validator("loaded", "found", pre=True)
    def _bounded(cls, value: object) -> object:
        # Before each entry is parsed: a huge object is refused at once.
        if isinstance(value, dict) and len(value) > MAX_CASSETTES:
            raise ValueError(f"at most {MAX_CASSETTES} cassettes")
        return value


class CassetteVersionRow(RowModel):
    machine_id: str
    version: int
    document: str
    cashbox_capacity: int | None
    issued_at: int
    issued_by: str


class CashCountRow(RowModel):
    """A count: a machine's report_cash, or an operator's refill."""

    id: str
    machine_id: str
    seq: int
    kind: str
    report_id: str | None
    batch: int
    positions: str
    cashbox_count: int | None
    cashbox_fiat_minor: int | None
    estimated: str
    differences: str
    created_at: int
    created_by: str


class CashBatchRow(RowModel):
    machine_id: str
    batch: int
    opened_at: int
    closed_at: int | None
    removed_count: int | None
    removed_fiat_minor: int | None


class DispensedBillsRow(RowModel):
    machine_id: str
    tx_id: str
    denomination_minor: int
    count: int
    dispensed_minor: int
    created_at: int
    counted_in: str | None


class CassetteCash(ApiModel):
    position: str
    denomination: str
    capacity: int
    last_count: int | None = Field(..., description="The machine's last report.")
    counted_at: int | None
    estimated_count: int = Field(..., description="Less the bills dispensed since.")
    fiat_held: str
    fill_percent: int
    days_until_empty: str | None = Field(
        ..., description="At the last 7 days' pace of its denomination."
    )


class CashboxCash(ApiModel):
    count: int | None
    fiat: str | None
    capacity: int | None
    fill_percent: int | None
    days_until_full: str | None
    counted_at: int | None
    batch: int | None
    batch_opened_at: int | None


class CashCount(ApiModel):
    """A count and its reconciliation against the server's estimate."""

    id: str
    kind: str = Field(..., description="report (the machine), refill or cassettes.")
    report_id: str | None
    created_at: int
    batch: int
    positions: dict[str, int] = Field(..., description="The counts from then on.")
    estimated: dict[str, int]
    counted: dict[str, int] = Field(
        ..., description="What the machine reported, or the operator found."
    )
    differences: dict[str, int] = Field(..., description="Counted minus estimated.")
    bills_fiat: str = Field(
        ..., description="The bills dispensed since the last count."
    )
    settled_fiat: str = Field(..., description="What those dispenses reported.")
    cashbox_count: int | None
    cashbox_fiat: str | None


class CashBatch(ApiModel):
    batch: int
    opened_at: int
    closed_at: int | None
    removed_count: int | None
    removed_fiat: str | None


class MachineCash(ApiModel):
    machine_id: str
    fiat_code: str | None
    version: int | None
    issued_at: int | None
    document: dict | None = Field(..., description="As the machine receives it.")
    cassettes: list[CassetteCash]
    fiat_held: str | None
    days_until_empty: str | None = Field(
        ..., description="The first cassette's denomination to run out."
    )
    cashbox: CashboxCash
    counts: list[CashCount]
    batches: list[CashBatch]

"""LNbits accounts and wallets as this extension sees them, and rows into models."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, TypeVar

from lnbits.core.crud import get_account, get_wallet
from pydantic import BaseModel

from .. import helpers
from ..errors import InvalidInput

M = TypeVar("M", bound=BaseModel)


def to_model(model: type[M], row: BaseModel | dict[str, Any], **derived: Any) -> M:
    """Builds an API model from a row: its own columns plus the derived fields."""
    columns = row.dict() if isinstance(row, BaseModel) else row
    fields = {k: v for k, v in columns.items() if k in model.__fields__}
    return model(**{**fields, **derived})


async def existing_wallet(wallet_id: str, what: str):
    wallet = await get_wallet(wallet_id)
    if wallet is None or wallet.deleted:
        raise InvalidInput(f"{what}: no LNbits wallet with id '{wallet_id}'")
    return wallet


async def person_name(user_id: str, chosen: str | None = None) -> str:
    """How one person appears to another: the name they chose, else their LNbits
    username, else a label derived from (not revealing) their user id. A user id
    is a login credential under LNbits' user-id-only method: never show it."""
    if chosen:
        return chosen
    account = await get_account(user_id)
    if account is not None and account.username:
        return account.username
    return f"user {hashlib.sha256(user_id.encode()).hexdigest()[:6]}"


class NameCache:
    """People's names, each read once per ``keep_s`` seconds (a name a few seconds
    old is as good on a memo or a machine's screen), at most ``MAX_ENTRIES``."""

    MAX_ENTRIES = 1000

    def __init__(self, keep_s: int) -> None:
        self.keep_s = keep_s
        self._names: dict[str, tuple[int, str]] = {}

    async def get(self, user_id: str) -> str:
        now = helpers.now()
        kept = self._names.get(user_id)
        if kept is not None and now - kept[0] < self.keep_s:
            return kept[1]
        name = await person_name(user_id)
        if len(self._names) >= self.MAX_ENTRIES:
            self._names.clear()
        self._names[user_id] = (now, name)
        return name


# Every payout's memo and every machine's get_info name the operator: read fresh,
# that is one LNbits account read each, on the database LNbits' own payments take
# turns on (a machine asking for its info would wait behind them). A name changed
# within the last minute may still show as it was.
OPERATOR_NAMES = NameCache(60)


async def enrolment_name(enrolment: Any) -> str:
    """An enrolled LP as the operator sees them: the LP's own name, else the one
    the operator gave at enrolment, else the LP's LNbits username."""
    return await person_name(
        enrolment.user_id, enrolment.lp_display_name or enrolment.display_name
    )


async def operator_names(rows: Iterable[Any]) -> dict[str, str]:
    """How each operator of these rows appears to an LP, looked up once each."""
    operator_ids = {row.operator_id for row in rows}
    return {operator_id: await person_name(operator_id) for operator_id in operator_ids}


async def wallet_name(wallet_id: str | None) -> str | None:
    """A wallet as its owner named it in LNbits (None when it is gone)."""
    wallet = await get_wallet(wallet_id) if wallet_id else None
    return None if wallet is None or wallet.deleted else wallet.name

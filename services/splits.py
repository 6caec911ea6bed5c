"""Split rules, the legs they make from a commission, and the preview."""

from __future__ import annotations

from dataclasses import dataclass

from .. import audit, calculations, crud
from ..database import transaction
from ..errors import InvalidInput
from ..helpers import new_id, now
from ..models import (
    BPS_MAX,
    Direction,
    Leg,
    LegKind,
    NewLegRow,
    SplitPreview,
    SplitPreviewRequest,
    SplitRule,
    SplitRuleIn,
    SplitRuleRow,
    SplitsUpdate,
    SuperConfig,
)
from .accounts import existing_wallet, to_model
from .config import get_super_config
from .settlements import shown_wallet_id


def split_rule(row: SplitRuleRow) -> SplitRule:
    return to_model(SplitRule, row)


async def get_splits(operator_id: str) -> list[SplitRule]:
    return [
        split_rule(row) for row in await crud.get_split_rules(operator_id=operator_id)
    ]


async def set_splits(operator_id: str, data: SplitsUpdate) -> list[SplitRule]:
    for rule in data.rules:
        if rule.wallet_id:
            await existing_wallet(rule.wallet_id, f"rule '{rule.label}'")
    rows = [
        SplitRuleRow(
            id=new_id(),
            operator_id=operator_id,
            position=position,
            label=rule.label,
            wallet_id=rule.wallet_id,
            ln_address=rule.ln_address,
            weight_bps=rule.weight_bps,
            created_at=now(),
        )
        for position, rule in enumerate(data.rules)
    ]
    await crud.ensure_operator(user_id=operator_id, now=now())
    async with transaction() as conn:
        await crud.replace_split_rules(operator_id=operator_id, rows=rows, conn=conn)
        await audit.record(
            conn,
            actor=operator_id,
            operator_id=operator_id,
            action="splits.replace",
            object_type="splits",
            object_id=operator_id,
            detail={"rules": [rule.dict() for rule in data.rules]},
        )
    return [split_rule(row) for row in rows]


@dataclass(frozen=True)
class LegDraft:
    """A payment a settlement owes, before it is stored as a payout leg."""

    kind: LegKind
    label: str
    target: str
    sats: int
    wallet_id: str | None = None
    ln_address: str | None = None
    lp_enrolment_id: str | None = None
    fiat_minor: int | None = None

    def row(
        self,
        *,
        settlement_id: str,
        operator_id: str,
        position: int,
        status: str,
        source_wallet_id: str,
        timestamp: int,
    ) -> NewLegRow:
        """The leg as it is stored, paid from ``source_wallet_id``: the one place
        that writes a leg, for machine settlements and balance settlements alike."""
        return NewLegRow(
            id=new_id(),
            settlement_id=settlement_id,
            operator_id=operator_id,
            position=position,
            kind=self.kind.value,
            label=self.label,
            target=self.target,
            wallet_id=self.wallet_id,
            ln_address=self.ln_address,
            lp_enrolment_id=self.lp_enrolment_id,
            sats=self.sats,
            fiat_minor=self.fiat_minor,
            status=status,
            source_wallet_id=source_wallet_id,
            created_at=timestamp,
            updated_at=timestamp,
        )


RETAINED_LABEL = "Retained in the machine wallet (no split rules)"


def _rules_or_retained(
    rules: list[SplitRuleIn] | list[SplitRule], machine_wallet_id: str | None
) -> list[tuple[str, str | None, str | None, int]]:
    """(label, wallet_id, ln_address, weight) per rule; with no rules the
    operator's share stays in the machine wallet, which is the operator's."""
    if not rules:
        return [(RETAINED_LABEL, machine_wallet_id, None, BPS_MAX)]
    return [(r.label, r.wallet_id, r.ln_address, r.weight_bps) for r in rules]


def fee_legs(
    *,
    config: SuperConfig,
    direction: Direction,
    commission_sats: int,
    principal_sats: int,
    rules: list[SplitRuleIn] | list[SplitRule],
    machine_wallet_id: str | None,
) -> tuple[calculations.CommissionSplit, list[LegDraft]]:
    fee_bps, basis = config.fee_for(direction)
    targets = _rules_or_retained(rules, machine_wallet_id)
    split = calculations.split_commission(
        commission_sats=commission_sats,
        principal_sats=principal_sats,
        fee_bps=fee_bps,
        fee_basis=basis.value,
        rule_weights_bps=[weight for *_, weight in targets],
    )
    legs = [
        LegDraft(
            kind=LegKind.platform_fee,
            label="Platform fee",
            target=config.super_wallet_id or "",
            wallet_id=config.super_wallet_id,
            sats=split.platform_fee_sats,
        )
    ]
    for (label, wallet_id, ln_address, _), sats in zip(
        targets, split.operator_legs_sats, strict=True
    ):
        legs.append(
            LegDraft(
                kind=LegKind.operator_split,
                label=label,
                target=wallet_id or ln_address or "",
                wallet_id=wallet_id,
                ln_address=ln_address,
                sats=sats,
            )
        )
    return split, legs


async def preview_split(operator_id: str, data: SplitPreviewRequest) -> SplitPreview:
    config = await get_super_config()
    fee_bps, basis = config.fee_for(data.direction)
    if basis.value == "principal" and data.principal_sats is None:
        raise InvalidInput(
            "principal_sats is needed: the platform fee for this direction is "
            "charged on the principal"
        )
    rules = data.rules if data.rules is not None else await get_splits(operator_id)
    split, legs = fee_legs(
        config=config,
        direction=data.direction,
        commission_sats=data.commission_sats,
        principal_sats=data.principal_sats or 0,
        rules=rules,
        machine_wallet_id=None,
    )
    return SplitPreview(
        direction=data.direction,
        commission_sats=split.commission_sats,
        principal_sats=data.principal_sats or 0,
        fee_bps=fee_bps,
        fee_basis=basis,
        platform_fee_sats=split.platform_fee_sats,
        operator_fee_sats=split.operator_fee_sats,
        legs=[
            Leg(
                kind=leg.kind,
                label=leg.label,
                wallet_id=shown_wallet_id(leg.kind, leg.wallet_id),
                ln_address=leg.ln_address,
                sats=leg.sats,
                status="preview",
            )
            for leg in legs
        ],
    )

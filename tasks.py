"""Background work of the extension, started with LNbits and stopped with it."""

from __future__ import annotations

import asyncio

from lnbits.core.models import Payment
from lnbits.task_manager import task_manager
from loguru import logger

from . import beacons, crud, payouts, services, transactions
from .nostr_rpc import rpc_server
from .rpc_methods import EXT_TAG

MAINTENANCE_EVERY_S = 3600


async def on_invoice_paid(payment: Payment) -> None:
    """A cash-out invoice was paid: advance its transaction (and land it for
    machines that pay out on payment)."""
    extra = payment.extra or {}
    if extra.get("tag") != EXT_TAG or extra.get("source") != "bitspire":
        return
    tx = await crud.get_atm_transaction_by_hash(payment_hash=payment.payment_hash)
    if tx is None or tx["status"] not in (
        transactions.CASH_OUT_UNPAID,
        transactions.CANCELLED,
    ):
        return
    machine = await crud.get_machine(machine_id=tx["machine_id"])
    if machine is not None:
        await transactions.cash_out_paid(tx, machine)


async def maintenance() -> None:
    config = await services.get_super_config()
    purged = await beacons.purge_telemetry(
        retention_days=config.telemetry_retention_days
    )
    if purged:
        logger.info(f"satmachineadmin: purged {purged} telemetry events")
    await asyncio.sleep(MAINTENANCE_EVERY_S)


def start() -> None:
    task_manager.register_invoice_listener(on_invoice_paid, name=EXT_TAG)
    task_manager.create_permanent_task(rpc_server.run, name=f"{EXT_TAG}_rpc")
    task_manager.create_permanent_task(payouts.run_worker, name=f"{EXT_TAG}_payouts")
    task_manager.create_permanent_task(maintenance, name=f"{EXT_TAG}_maintenance")


async def stop() -> None:
    await rpc_server.stop()
    for name in (
        f"{EXT_TAG}_invoice_listener",
        f"{EXT_TAG}_rpc",
        f"{EXT_TAG}_maintenance",
    ):
        task = task_manager.get_task(name)
        if task is not None:
            task_manager.cancel_task(task)

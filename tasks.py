"""Background work of the extension, started with LNbits and stopped with it."""

from __future__ import annotations

import asyncio
import os

from lnbits.core.models import Payment
from lnbits.task_manager import task_manager
from loguru import logger

from . import crud, helpers, services
from .helpers import EXT_TAG
from .rpc import beacons, rpc_server
from .services import payouts

MAINTENANCE_EVERY_S = 3600


async def on_invoice_paid(payment: Payment) -> None:
    """A cash-out invoice was paid: advance its transaction (and land it for
    machines that pay out on payment); one made by another LNbits lands as is."""
    if (payment.extra or {}).get("source") != "bitspire":
        return
    tx = await crud.get_atm_transaction_by_hash(payment_hash=payment.payment_hash)
    if tx is None:
        await services.land_bitspire_payment(payment)
        return
    if not services.event_applies(tx, services.TxEvent.invoice_paid):
        return
    machine = await crud.get_machine(machine_id=tx.machine_id)
    if machine is not None:
        await services.cash_out_paid(tx, machine)


OUTGOING_SCAN_EVERY_S = 30


OUTGOING_SCANS = services.OutgoingScans()


async def scan_outgoing() -> None:
    began = helpers.now()
    since = OUTGOING_SCANS.since(began)
    await services.land_outgoing_bitspire_payments(since=since)
    OUTGOING_SCANS.scanned(began=began, since=since)
    await asyncio.sleep(OUTGOING_SCAN_EVERY_S)


def _alerts_every_s() -> int:
    """How often this process evaluates alerts: SATMACHINEADMIN_ALERTS_EVERY_S
    (1..3600 seconds), else once a minute."""
    try:
        seconds = int(os.environ.get("SATMACHINEADMIN_ALERTS_EVERY_S", "60"))
    except ValueError:
        return 60
    return min(max(seconds, 1), 3600)


ALERTS_EVERY_S = _alerts_every_s()


async def evaluate_alerts() -> None:
    relays = rpc_server.status()["relays"]
    await services.evaluate_alerts(relays=relays)
    await asyncio.sleep(ALERTS_EVERY_S)


RPC_LOG_PURGE_BATCH = 5000


async def purge_rpc_log(*, retention_days: int) -> int:
    """Deletes the RPC log older than ``retention_days``, a batch at a time."""
    before = helpers.now() - retention_days * 86400
    total = 0
    while True:
        deleted = await crud.delete_rpc_log_before(
            before=before, batch=RPC_LOG_PURGE_BATCH
        )
        total += deleted
        if deleted < RPC_LOG_PURGE_BATCH:
            return total
        await asyncio.sleep(0)  # let requests in between batches


async def maintenance() -> None:
    config = await services.get_super_config()
    purged = await beacons.purge_telemetry(
        retention_days=config.telemetry_retention_days
    )
    if purged:
        logger.info(f"satmachineadmin: purged {purged} telemetry events")
    purged = await purge_rpc_log(retention_days=config.rpc_log_retention_days)
    if purged:
        logger.info(f"satmachineadmin: purged {purged} RPC log entries")
    await services.forget_old_alerts()
    # Older requests are refused by the clock check anyway.
    await crud.forget_events_before(before=helpers.now() - 2 * config.clock_tolerance_s)
    await asyncio.sleep(MAINTENANCE_EVERY_S)


def start() -> None:
    task_manager.register_invoice_listener(on_invoice_paid, name=EXT_TAG)
    task_manager.create_permanent_task(rpc_server.run, name=f"{EXT_TAG}_rpc")
    task_manager.create_permanent_task(payouts.run_worker, name=f"{EXT_TAG}_payouts")
    task_manager.create_permanent_task(maintenance, name=f"{EXT_TAG}_maintenance")
    task_manager.create_permanent_task(scan_outgoing, name=f"{EXT_TAG}_outgoing")
    task_manager.create_permanent_task(evaluate_alerts, name=f"{EXT_TAG}_alerts")


async def stop() -> None:
    await rpc_server.stop()
    for name in (
        f"{EXT_TAG}_invoice_listener",
        f"{EXT_TAG}_rpc",
        f"{EXT_TAG}_payouts",
        f"{EXT_TAG}_maintenance",
        f"{EXT_TAG}_outgoing",
        f"{EXT_TAG}_alerts",
    ):
        task = task_manager.get_task(name)
        if task is not None:
            task_manager.cancel_task(task)

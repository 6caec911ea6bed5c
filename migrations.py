"""Schema of the extension (SQLite and PostgreSQL).

Money is stored as integer sats (BIGINT) and fiat as integer minor units of its
currency (BIGINT, e.g. cents) next to the currency code; exchange rates are exact
decimal strings. Timestamps are integer Unix seconds, which compare and filter the
same way on both databases.

Idempotency is a property of the schema: a settlement is unique by payment hash and
by (machine, tx_id), a payout leg by (settlement, kind, target), an LP enrolment by
(operator, LP, fiat code). Code inserts and lets the database refuse a duplicate.
"""

from lnbits.db import SQLITE


async def _create_unique_index(db, name: str, table: str, columns: str) -> None:
    if db.type == SQLITE:
        sql = f"CREATE UNIQUE INDEX satmachineadmin.{name} ON {table} ({columns})"
    else:
        sql = f"CREATE UNIQUE INDEX {name} ON satmachineadmin.{table} ({columns})"
    await db.execute(sql)


async def _create_index(db, name: str, table: str, columns: str) -> None:
    # SQLite puts the schema on the index name, PostgreSQL on the table.
    if db.type == SQLITE:
        sql = f"CREATE INDEX satmachineadmin.{name} ON {table} ({columns})"
    else:
        sql = f"CREATE INDEX {name} ON satmachineadmin.{table} ({columns})"
    await db.execute(sql)


async def m001_initial(db):
    big = db.big_int
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.super_config (
            id TEXT PRIMARY KEY,
            cash_in_fee_bps INTEGER NOT NULL DEFAULT 0,
            cash_out_fee_bps INTEGER NOT NULL DEFAULT 0,
            cash_in_fee_basis TEXT NOT NULL DEFAULT 'commission',
            cash_out_fee_basis TEXT NOT NULL DEFAULT 'commission',
            super_wallet_id TEXT,
            relays TEXT NOT NULL,
            server_private_key TEXT NOT NULL,
            server_pubkey TEXT NOT NULL,
            clock_tolerance_s INTEGER NOT NULL DEFAULT 300,
            amount_tolerance_bps INTEGER NOT NULL DEFAULT 200,
            beacon_offline_s INTEGER NOT NULL DEFAULT 600,
            dispense_timeout_s INTEGER NOT NULL DEFAULT 900,
            telemetry_retention_days INTEGER NOT NULL DEFAULT 30,
            updated_at {big} NOT NULL,
            updated_by TEXT
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.operators (
            user_id TEXT PRIMARY KEY,
            allocation_seq {big} NOT NULL DEFAULT 0,
            created_at {big} NOT NULL
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.machines (
            id TEXT PRIMARY KEY,
            operator_id TEXT NOT NULL,
            pubkey TEXT NOT NULL UNIQUE,
            wallet_id TEXT NOT NULL,
            name TEXT NOT NULL,
            location TEXT,
            fiat_code TEXT,
            status TEXT NOT NULL DEFAULT 'active',
            dispense_confirmation TEXT NOT NULL DEFAULT 'report',
            created_at {big} NOT NULL,
            updated_at {big} NOT NULL
        );
        """
    )
    await _create_index(db, "machines_operator", "machines", "operator_id")
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.split_rules (
            id TEXT PRIMARY KEY,
            operator_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            label TEXT NOT NULL,
            wallet_id TEXT,
            ln_address TEXT,
            weight_bps INTEGER NOT NULL,
            created_at {big} NOT NULL,
            UNIQUE (operator_id, position)
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.settlements (
            id TEXT PRIMARY KEY,
            operator_id TEXT NOT NULL,
            machine_id TEXT NOT NULL,
            direction TEXT NOT NULL,
            status TEXT NOT NULL,
            source TEXT NOT NULL,
            tx_id TEXT NOT NULL,
            payment_hash TEXT UNIQUE,
            gross_sats {big} NOT NULL,
            principal_sats {big} NOT NULL,
            commission_sats {big} NOT NULL,
            platform_fee_sats {big} NOT NULL,
            operator_fee_sats {big} NOT NULL,
            discount_sats {big} NOT NULL DEFAULT 0,
            lp_allocated_sats {big} NOT NULL DEFAULT 0,
            unallocated_sats {big} NOT NULL DEFAULT 0,
            fiat_amount_minor {big} NOT NULL,
            fiat_code TEXT NOT NULL,
            exchange_rate TEXT NOT NULL,
            fee_bps INTEGER NOT NULL,
            fee_basis TEXT NOT NULL,
            fee_snapshot TEXT NOT NULL,
            split_snapshot TEXT NOT NULL,
            note TEXT,
            created_by TEXT,
            created_at {big} NOT NULL,
            updated_at {big} NOT NULL,
            UNIQUE (machine_id, tx_id)
        );
        """
    )
    await _create_index(
        db, "settlements_operator_time", "settlements", "operator_id, created_at"
    )
    await _create_index(
        db, "settlements_machine_time", "settlements", "machine_id, created_at"
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.payout_legs (
            id TEXT PRIMARY KEY,
            settlement_id TEXT NOT NULL,
            operator_id TEXT NOT NULL,
            position INTEGER NOT NULL,
            kind TEXT NOT NULL,
            label TEXT NOT NULL,
            target TEXT NOT NULL,
            wallet_id TEXT,
            ln_address TEXT,
            lp_enrolment_id TEXT,
            sats {big} NOT NULL,
            fiat_minor {big},
            status TEXT NOT NULL,
            payment_hash TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at {big} NOT NULL,
            updated_at {big} NOT NULL,
            paid_at {big},
            UNIQUE (settlement_id, kind, target)
        );
        """
    )
    await _create_index(db, "payout_legs_enrolment", "payout_legs", "lp_enrolment_id")
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.lps (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL UNIQUE,
            created_at {big} NOT NULL
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.lp_enrolments (
            id TEXT PRIMARY KEY,
            operator_id TEXT NOT NULL,
            lp_id TEXT NOT NULL,
            wallet_id TEXT NOT NULL,
            fiat_code TEXT NOT NULL,
            created_at {big} NOT NULL,
            UNIQUE (operator_id, lp_id, fiat_code)
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.deposits (
            id TEXT PRIMARY KEY,
            enrolment_id TEXT NOT NULL,
            operator_id TEXT NOT NULL,
            lp_id TEXT NOT NULL,
            fiat_code TEXT NOT NULL,
            fiat_amount_minor {big} NOT NULL,
            status TEXT NOT NULL,
            note TEXT,
            created_by TEXT NOT NULL,
            created_at {big} NOT NULL,
            confirmed_by TEXT,
            confirmed_at {big}
        );
        """
    )
    await _create_index(db, "deposits_enrolment", "deposits", "enrolment_id")
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.audit_log (
            id TEXT PRIMARY KEY,
            created_at {big} NOT NULL,
            actor TEXT NOT NULL,
            operator_id TEXT,
            action TEXT NOT NULL,
            object_type TEXT NOT NULL,
            object_id TEXT NOT NULL,
            detail TEXT NOT NULL
        );
        """
    )
    await _create_index(
        db, "audit_log_operator_time", "audit_log", "operator_id, created_at"
    )


async def m002_nostr_transport(db):
    """What the Nostr RPC needs: ATM transactions across methods, idempotent
    requests, the request log, beacons, telemetry and pairing tokens."""
    big = db.big_int
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.atm_transactions (
            id TEXT PRIMARY KEY,
            operator_id TEXT NOT NULL,
            machine_id TEXT NOT NULL,
            tx_id TEXT NOT NULL,
            direction TEXT NOT NULL,
            status TEXT NOT NULL,
            payment_hash TEXT UNIQUE,
            bolt11 TEXT,
            amount_sats {big} NOT NULL,
            principal_sats {big} NOT NULL,
            fee_sats {big} NOT NULL,
            fiat_amount_minor {big} NOT NULL,
            fiat_code TEXT NOT NULL,
            exchange_rate TEXT NOT NULL,
            expires_at {big},
            paid_at {big},
            settlement_id TEXT,
            note TEXT,
            created_at {big} NOT NULL,
            updated_at {big} NOT NULL,
            UNIQUE (machine_id, tx_id)
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.rpc_requests (
            id TEXT PRIMARY KEY,
            machine_id TEXT NOT NULL,
            method TEXT NOT NULL,
            tx_id TEXT NOT NULL,
            params_hash TEXT NOT NULL,
            status TEXT NOT NULL,
            response TEXT,
            created_at {big} NOT NULL,
            updated_at {big} NOT NULL,
            UNIQUE (machine_id, method, tx_id)
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.rpc_log (
            id TEXT PRIMARY KEY,
            created_at {big} NOT NULL,
            operator_id TEXT,
            machine_id TEXT,
            pubkey TEXT NOT NULL,
            event_id TEXT NOT NULL,
            relay TEXT,
            request_id TEXT,
            method TEXT,
            tx_id TEXT,
            latency_ms INTEGER NOT NULL,
            error_code TEXT
        );
        """
    )
    await _create_index(
        db, "rpc_log_operator_time", "rpc_log", "operator_id, created_at"
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.beacons (
            machine_id TEXT NOT NULL,
            d_tag TEXT NOT NULL,
            event_id TEXT NOT NULL,
            created_at {big} NOT NULL,
            content TEXT NOT NULL,
            received_at {big} NOT NULL,
            PRIMARY KEY (machine_id, d_tag)
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.telemetry (
            event_id TEXT PRIMARY KEY,
            machine_id TEXT NOT NULL,
            d_tag TEXT NOT NULL,
            created_at {big} NOT NULL,
            content TEXT NOT NULL,
            received_at {big} NOT NULL
        );
        """
    )
    await _create_index(
        db, "telemetry_machine_time", "telemetry", "machine_id, created_at"
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.pairings (
            id TEXT PRIMARY KEY,
            operator_id TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            fiat_code TEXT,
            location TEXT,
            expires_at {big} NOT NULL,
            used_at {big},
            pubkey TEXT,
            machine_id TEXT,
            created_at {big} NOT NULL
        );
        """
    )
    await db.execute(
        f"ALTER TABLE satmachineadmin.settlements "
        f"ADD COLUMN undispensed_sats {big} NOT NULL DEFAULT 0"
    )


async def m003_payouts(db):
    """Paying the legs: which wallet pays, the invoice fixed before the payment
    (so a resumed payment finds it instead of paying twice), retry timing; LP
    balance settlements and auto-forwarding."""
    big = db.big_int
    for column, kind in (
        ("source_wallet_id", "TEXT"),
        ("payment_request", "TEXT"),
        ("claimed_at", big),
        ("next_attempt_at", big),
    ):
        await db.execute(
            f"ALTER TABLE satmachineadmin.payout_legs ADD COLUMN {column} {kind}"
        )
    await db.execute(
        """
        UPDATE satmachineadmin.payout_legs SET source_wallet_id = (
            SELECT m.wallet_id FROM satmachineadmin.settlements s
            JOIN satmachineadmin.machines m ON m.id = s.machine_id
            WHERE s.id = satmachineadmin.payout_legs.settlement_id
        )
        """
    )
    await _create_index(
        db, "payout_legs_status", "payout_legs", "status, next_attempt_at"
    )
    await _create_index(db, "settlements_status", "settlements", "status")
    await _create_index(
        db, "atm_transactions_status", "atm_transactions", "status, paid_at"
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.balance_settlements (
            id TEXT PRIMARY KEY,
            operator_id TEXT NOT NULL,
            enrolment_id TEXT NOT NULL,
            fiat_minor {big} NOT NULL,
            fiat_code TEXT NOT NULL,
            exchange_rate TEXT NOT NULL,
            rate_source TEXT NOT NULL,
            sats {big} NOT NULL,
            source_wallet_id TEXT NOT NULL,
            note TEXT,
            created_by TEXT NOT NULL,
            created_at {big} NOT NULL
        );
        """
    )
    await db.execute("ALTER TABLE satmachineadmin.lps ADD COLUMN ln_address TEXT")
    await db.execute(
        "ALTER TABLE satmachineadmin.lps ADD COLUMN forward_fee_reserve_bps INTEGER "
        "NOT NULL DEFAULT 100"
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.forwards (
            id TEXT PRIMARY KEY,
            leg_id TEXT NOT NULL UNIQUE,
            lp_id TEXT NOT NULL,
            wallet_id TEXT NOT NULL,
            ln_address TEXT NOT NULL,
            sats {big} NOT NULL,
            status TEXT NOT NULL,
            payment_hash TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at {big},
            created_at {big} NOT NULL,
            updated_at {big} NOT NULL
        );
        """
    )


async def m004_handled_events(db):
    """Request event ids already handled, so that a relay replaying stored
    requests after a restart (or a second LNbits process on the same database)
    does not handle one twice."""
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.handled_events (
            event_id TEXT PRIMARY KEY,
            received_at {db.big_int} NOT NULL
        );
        """
    )


async def m005_settlement_list_index(db):
    """The operator's settlement list, filtered by machine and direction and
    newest first, from the index alone: its rows are found, counted and paged
    without reading every settlement of the machine (~1.6 KB each with their
    snapshots) to test the other columns."""
    await _create_index(
        db,
        "settlements_list",
        "settlements",
        "operator_id, machine_id, direction, created_at, id",
    )


async def m006_balance_settlement_safeguards(db):
    """LP balance settlements made safe to pay: the super user's tolerance for an
    operator's exchange rate against LNbits' own, and a client's idempotency key,
    unique per operator, with a digest of the request it was first used for."""
    await db.execute(
        "ALTER TABLE satmachineadmin.super_config "
        "ADD COLUMN lp_rate_tolerance_bps INTEGER NOT NULL DEFAULT 500"
    )
    for column in ("idempotency_key", "request_digest"):
        await db.execute(
            f"ALTER TABLE satmachineadmin.balance_settlements ADD COLUMN {column} TEXT"
        )
    # Both databases let any number of rows leave the key NULL.
    if db.type == SQLITE:
        sql = (
            "CREATE UNIQUE INDEX satmachineadmin.balance_settlements_idempotency "
            "ON balance_settlements (operator_id, idempotency_key)"
        )
    else:
        sql = (
            "CREATE UNIQUE INDEX balance_settlements_idempotency "
            "ON satmachineadmin.balance_settlements (operator_id, idempotency_key)"
        )
    await db.execute(sql)


async def m007_consent_codes_and_expected_machines(db):
    """Consent before identity: an LP enrols with an operator only through a
    one-time code the LP made (one live code per LP user, stored hashed), and sets
    the name operators see; a machine added by npub is a pairing that expects that
    key, bound only when the machine itself redeems the token."""
    big = db.big_int
    await db.execute("ALTER TABLE satmachineadmin.lps ADD COLUMN display_name TEXT")
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.lp_codes (
            user_id TEXT PRIMARY KEY,
            lp_id TEXT NOT NULL,
            wallet_id TEXT NOT NULL,
            code_hash TEXT NOT NULL UNIQUE,
            expires_at {big} NOT NULL,
            used_at {big},
            created_at {big} NOT NULL
        );
        """
    )
    await db.execute(
        "ALTER TABLE satmachineadmin.pairings ADD COLUMN expected_pubkey TEXT"
    )
    await db.execute(
        "ALTER TABLE satmachineadmin.pairings ADD COLUMN dispense_confirmation TEXT "
        "NOT NULL DEFAULT 'report'"
    )


async def m008_rpc_log_retention(db):
    """The RPC log is kept for a number of days (a super setting, like telemetry's)
    and purged by age, which the index on its time finds without a scan."""
    await db.execute(
        "ALTER TABLE satmachineadmin.super_config "
        "ADD COLUMN rpc_log_retention_days INTEGER NOT NULL DEFAULT 90"
    )
    await _create_index(db, "rpc_log_time", "rpc_log", "created_at")


async def m009_local_only_instance(db):
    """The super user may mark the instance as local-only (a test bench or a shop
    whose machines share its network): only then may a seed URL carry nothing but
    loopback or private-network relays."""
    await db.execute(
        "ALTER TABLE satmachineadmin.super_config "
        "ADD COLUMN local_only BOOLEAN NOT NULL DEFAULT FALSE"
    )


async def m010_fee_schedules(db):
    """The server decides the commission (contract §9.2): each operator's default
    schedule and per-machine overrides (one row per direction; machine_id '' is
    the default), every version of each machine's effective schedule as it was
    published (the one named by a request is accepted for a grace period after
    it was replaced) and whether the machine fetched it; the super user's cap on
    commissions and how a wrong fee is handled; and, on every transaction and
    settlement, the schedule version it was priced with and how far its fee was
    from that schedule's."""
    big = db.big_int
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.fee_schedules (
            operator_id TEXT NOT NULL,
            machine_id TEXT NOT NULL,
            direction TEXT NOT NULL,
            commission_bps INTEGER NOT NULL,
            fixed_fee_sats {big} NOT NULL,
            min_fiat TEXT,
            max_fiat TEXT,
            updated_at {big} NOT NULL,
            updated_by TEXT,
            PRIMARY KEY (operator_id, machine_id, direction)
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.fee_versions (
            machine_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            schedule TEXT NOT NULL,
            issued_at {big} NOT NULL,
            replaced_at {big},
            fetched_at {big},
            PRIMARY KEY (machine_id, version)
        );
        """
    )
    for column in (
        "cash_in_max_commission_bps INTEGER NOT NULL DEFAULT 2000",
        "cash_out_max_commission_bps INTEGER NOT NULL DEFAULT 2000",
        "fee_enforcement TEXT NOT NULL DEFAULT 'refuse'",
        "fee_grace_s INTEGER NOT NULL DEFAULT 600",
    ):
        await db.execute(
            f"ALTER TABLE satmachineadmin.super_config ADD COLUMN {column}"
        )
    for table in ("settlements", "atm_transactions"):
        for column in (f"fee_mismatch_sats {big}", "fee_version INTEGER"):
            await db.execute(f"ALTER TABLE satmachineadmin.{table} ADD COLUMN {column}")


async def m011_withdraw_links(db):
    """Cash-in by LNURL-withdraw (contract §9.3): one link per (machine, tx_id),
    found by its random ``k1``. The payment happens at most once because the
    callback must first win a guarded UPDATE (pending and not expired → claimed)
    that records the invoice it will pay; ``payment_hash`` is unique, so one
    invoice is never claimed by two links. A claim left by a crash is resolved by
    asking LNbits about the recorded payment hash, never by paying again."""
    big = db.big_int
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.withdraw_links (
            id TEXT PRIMARY KEY,
            operator_id TEXT NOT NULL,
            machine_id TEXT NOT NULL,
            tx_id TEXT NOT NULL,
            k1 TEXT NOT NULL UNIQUE,
            amount_sats {big} NOT NULL,
            fee_sats {big} NOT NULL,
            fee_version INTEGER,
            expires_at {big} NOT NULL,
            status TEXT NOT NULL,
            bolt11 TEXT,
            payment_hash TEXT UNIQUE,
            claimed_at {big},
            paid_at {big},
            last_error TEXT,
            created_at {big} NOT NULL,
            updated_at {big} NOT NULL,
            UNIQUE (machine_id, tx_id)
        );
        """
    )
    await _create_index(
        db, "withdraw_links_status", "withdraw_links", "status, expires_at"
    )


async def m012_fleet_cash(db):
    """Running a fleet: each machine's append-only notes; its cassettes as
    numbered versions of the document it is sent (contract §9.4, with the
    cashbox's capacity beside it); the counts it reports and the operator's
    refills, each with the server's estimate at that moment and the difference;
    the cashbox batches a refill closes and opens; the bills each dispense
    report names, which lower the estimate between counts; and alerts: each
    user's settings, each alert's state (a version guards every change, so
    that of two processes one sends) and the history of what was sent."""
    big = db.big_int
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.machine_notes (
            id TEXT PRIMARY KEY,
            machine_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            operator_id TEXT NOT NULL,
            author_id TEXT NOT NULL,
            author_name TEXT NOT NULL,
            text TEXT NOT NULL,
            created_at {big} NOT NULL
        );
        """
    )
    # Each machine's notes in the order they were written.
    await _create_unique_index(
        db, "machine_notes_seq", "machine_notes", "machine_id, seq"
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.cassette_versions (
            machine_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            document TEXT NOT NULL,
            cashbox_capacity INTEGER,
            issued_at {big} NOT NULL,
            issued_by TEXT NOT NULL,
            PRIMARY KEY (machine_id, version)
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.cash_counts (
            id TEXT PRIMARY KEY,
            machine_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            kind TEXT NOT NULL,
            report_id TEXT,
            batch INTEGER NOT NULL,
            positions TEXT NOT NULL,
            cashbox_count INTEGER,
            cashbox_fiat_minor {big},
            estimated TEXT NOT NULL,
            differences TEXT NOT NULL,
            created_at {big} NOT NULL,
            created_by TEXT NOT NULL
        );
        """
    )
    # The idempotency key of report_cash: a replay cannot record twice.
    unique = (
        "CREATE UNIQUE INDEX satmachineadmin.cash_counts_report "
        "ON cash_counts (machine_id, report_id)"
        if db.type == SQLITE
        else "CREATE UNIQUE INDEX cash_counts_report "
        "ON satmachineadmin.cash_counts (machine_id, report_id)"
    )
    await db.execute(unique)
    await _create_index(db, "cash_counts_time", "cash_counts", "machine_id, created_at")
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.cash_batches (
            machine_id TEXT NOT NULL,
            batch INTEGER NOT NULL,
            opened_at {big} NOT NULL,
            closed_at {big},
            removed_count INTEGER,
            removed_fiat_minor {big},
            PRIMARY KEY (machine_id, batch)
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.dispensed_bills (
            machine_id TEXT NOT NULL,
            tx_id TEXT NOT NULL,
            denomination_minor {big} NOT NULL,
            count INTEGER NOT NULL,
            dispensed_minor {big} NOT NULL,
            created_at {big} NOT NULL,
            counted_in TEXT,
            PRIMARY KEY (machine_id, tx_id, denomination_minor)
        );
        """
    )
    await _create_index(
        db, "dispensed_bills_time", "dispensed_bills", "machine_id, created_at"
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.alert_settings (
            user_id TEXT PRIMARY KEY,
            settings TEXT NOT NULL,
            updated_at {big} NOT NULL
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.alert_states (
            user_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            phase TEXT NOT NULL,
            since {big},
            fired_at {big},
            last_sent_at {big},
            version INTEGER NOT NULL,
            updated_at {big} NOT NULL,
            PRIMARY KEY (user_id, kind, subject)
        );
        """
    )
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.alert_events (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            action TEXT NOT NULL,
            message TEXT NOT NULL,
            delivery TEXT NOT NULL,
            created_at {big} NOT NULL
        );
        """
    )
    await _create_index(db, "alert_events_user", "alert_events", "user_id, created_at")


async def m013_lp_display_name(db):
    """An LP is named when enrolled: the operator may give the name they know the
    LP by (kept per enrolment), and the LP's own name, editable on their page,
    goes before it. Names saved before were neither stripped nor bounded."""
    await db.execute(
        "ALTER TABLE satmachineadmin.lp_enrolments ADD COLUMN display_name TEXT"
    )
    await db.execute(
        "UPDATE satmachineadmin.lps "
        "SET display_name = SUBSTR(TRIM(display_name), 1, 64) "
        "WHERE display_name IS NOT NULL"
    )
    await db.execute(
        "UPDATE satmachineadmin.lps SET display_name = NULL "
        "WHERE display_name IS NOT NULL AND display_name = ''"
    )


async def m015_lp_payout_schedules(db):
    """When an LP's sats move: each settlement (as before), daily at an hour
    (UTC), or once what accrued reaches a threshold. The operator offers the
    schedules per enrolment and the LP chooses one. A distribution leg of a
    scheduled LP is recorded as before but 'accrued', not paid; one LP payout per
    enrolment and paying wallet later pays every leg it took (``lp_payout_id``),
    claimed and paid like a leg. At most one payout of an enrolment and paying
    wallet is open at a time (the partial unique index)."""
    big = db.big_int
    for column in (
        "payout_schedules_offered TEXT NOT NULL DEFAULT 'each'",
        "payout_schedule TEXT NOT NULL DEFAULT 'each'",
        "payout_hour INTEGER NOT NULL DEFAULT 0",
        f"payout_threshold_sats {big} NOT NULL DEFAULT 10000",
    ):
        await db.execute(
            f"ALTER TABLE satmachineadmin.lp_enrolments ADD COLUMN {column}"
        )
    await db.execute(
        "ALTER TABLE satmachineadmin.payout_legs ADD COLUMN lp_payout_id TEXT"
    )
    await _create_index(db, "payout_legs_lp_payout", "payout_legs", "lp_payout_id")
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.lp_payouts (
            id TEXT PRIMARY KEY,
            operator_id TEXT NOT NULL,
            enrolment_id TEXT NOT NULL,
            lp_id TEXT NOT NULL,
            source_wallet_id TEXT NOT NULL,
            wallet_id TEXT NOT NULL,
            schedule TEXT NOT NULL,
            sats {big} NOT NULL,
            legs INTEGER NOT NULL,
            status TEXT NOT NULL,
            payment_hash TEXT,
            payment_request TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            claimed_at {big},
            next_attempt_at {big},
            created_at {big} NOT NULL,
            updated_at {big} NOT NULL,
            paid_at {big}
        );
        """
    )
    # One open payout per enrolment and paying wallet, whatever the number of
    # workers or processes making them (a partial index: SQLite and PostgreSQL).
    if db.type == SQLITE:
        name, table = "satmachineadmin.lp_payouts_open", "lp_payouts"
    else:
        name, table = "lp_payouts_open", "satmachineadmin.lp_payouts"
    await db.execute(
        f"CREATE UNIQUE INDEX {name} ON {table} (enrolment_id, source_wallet_id) "
        "WHERE status <> 'paid'"
    )
    await _create_index(db, "lp_payouts_enrolment", "lp_payouts", "enrolment_id")


async def m016_push_channels(db):
    """Each user's websocket channel: a random id, the only thing that lets a page
    listen to LNbits' (unauthenticated) websocket for that user's changes."""
    await db.execute(
        f"""
        CREATE TABLE satmachineadmin.push_channels (
            user_id TEXT PRIMARY KEY,
            channel TEXT NOT NULL UNIQUE,
            created_at {db.big_int} NOT NULL
        );
        """
    )


async def m017_accrued_legs_index(db):
    """The LP payout schedules' due search reads only the accrued legs no payout
    took yet, from an index that holds only those (partial: SQLite and
    PostgreSQL), instead of every accrued leg's row: per enrolment and paying
    wallet with the sats and times it sums, and by time for the legs accrued
    since the previous search."""
    accrued = "WHERE status = 'accrued' AND lp_payout_id IS NULL"
    for name, columns in (
        ("payout_legs_accrued", "lp_enrolment_id, source_wallet_id, created_at, sats"),
        ("payout_legs_accrued_at", "created_at, lp_enrolment_id"),
    ):
        if db.type == SQLITE:
            sql = f"CREATE INDEX satmachineadmin.{name} ON payout_legs ({columns})"
        else:
            sql = f"CREATE INDEX {name} ON satmachineadmin.payout_legs ({columns})"
        await db.execute(f"{sql} {accrued}")

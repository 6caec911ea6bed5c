"""Where each scan of the machines' outgoing payments starts."""

from __future__ import annotations

from satmachineadmin.services.foreign_payments import (
    DAY_S,
    FULL_SCAN_EVERY_S,
    SCAN_OVERLAP_S,
    OutgoingScans,
)

T0 = 1_800_000_000


def scan(scans: OutgoingScans, at: int) -> int:
    since = scans.since(at)
    scans.scanned(began=at, since=since)
    return since


def test_the_first_scan_reads_the_whole_last_day():
    assert scan(OutgoingScans(), T0) == T0 - DAY_S


def test_scans_in_between_read_from_the_previous_one_with_an_overlap():
    scans = OutgoingScans()
    scan(scans, T0)
    assert scan(scans, T0 + 30) == T0 - SCAN_OVERLAP_S
    assert scan(scans, T0 + 60) == T0 + 30 - SCAN_OVERLAP_S


def test_the_whole_day_is_read_again_every_full_period():
    scans = OutgoingScans()
    scan(scans, T0)
    at = T0
    while at < T0 + FULL_SCAN_EVERY_S - 30:
        at += 30
        assert scan(scans, at) > at - DAY_S
    at = T0 + FULL_SCAN_EVERY_S
    assert scan(scans, at) == at - DAY_S
    assert scan(scans, at + 30) == at - SCAN_OVERLAP_S


def test_a_scan_that_failed_is_covered_by_the_next():
    scans = OutgoingScans()
    scan(scans, T0)
    scans.since(T0 + 30)  # begun, never completed
    assert scan(scans, T0 + 60) == T0 - SCAN_OVERLAP_S


def test_a_long_pause_never_reads_more_than_a_day():
    scans = OutgoingScans()
    scan(scans, T0)
    assert scan(scans, T0 + 300) == T0 - SCAN_OVERLAP_S
    # The next full scan is due anyway after FULL_SCAN_EVERY_S.
    assert scan(scans, T0 + 2 * DAY_S) == T0 + DAY_S

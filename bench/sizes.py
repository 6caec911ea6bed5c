"""How much work each phase does: the full run's sizes and ``--quick``'s."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Sizes:
    rpc_requests: int = 150
    rpc_concurrent_atms: int = 4
    rpc_concurrent_each: int = 25
    latency_settlements: int = 15
    throughput_machines: int = 3
    throughput_tx_each: int = 2
    lps: int = 20
    stored_settlements: int = 100_000
    list_machines: int = 5
    list_requests: int = 40
    floor_max_payments: int = 400
    micro_seconds: float = 0.3
    flood_requests: int = 150
    flood_rate_per_s: float = 200.0
    flood_max_s: float = 20.0
    withdraw_cash_ins: int = 20
    fee_check_calls: int = 1000
    schedule_lps: int = 200
    schedule_cash_outs: int = 50
    schedule_each_cash_outs: int = 5
    fleet_machines: int = 200
    fleet_cashing: int = 20
    fleet_seconds: int = 120
    fleet_info_every_s: float = 10.0
    fleet_beacon_every_s: float = 30.0
    fleet_cash_every_s: float = 5.0

    @classmethod
    def quick(cls) -> Sizes:
        return cls(
            rpc_requests=60,
            rpc_concurrent_each=15,
            latency_settlements=5,
            throughput_machines=2,
            throughput_tx_each=1,
            lps=5,
            stored_settlements=10_000,
            list_requests=40,
            micro_seconds=0.2,
            flood_requests=60,
            withdraw_cash_ins=5,
            fee_check_calls=200,
            schedule_lps=20,
            schedule_cash_outs=5,
            schedule_each_cash_outs=2,
            fleet_machines=20,
            fleet_cashing=4,
            fleet_seconds=60,
        )

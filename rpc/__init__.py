"""The bitSpire RPC server over Nostr (kind-21000 NIP-44 JSON-RPC, kind-30078
beacons): ``server`` speaks Nostr, ``limits`` bounds what strangers cost,
``params`` parses requests, ``methods`` (with ``cash_out``, ``cash_in`` and
``shared``) runs them, ``idempotency`` makes each effect happen once, and
``beacons`` stores what machines announce."""

from __future__ import annotations

from .errors import DuplicateInFlight, RpcError
from .idempotency import STALE_CLAIM_S, once
from .limits import (
    ANSWER_EVERY_S,
    BUDGET_BURST,
    BUDGET_PER_S,
    OVER_BUDGET,
    RATE_LIMITED,
    OncePerInterval,
    StrangerGate,
    TokenBucket,
)
from .methods import METHODS, PROTOCOL_VERSION, dispatch
from .params import RpcRequest, parse_request
from .server import (
    BEACON_KIND,
    RPC_KIND,
    TELEMETRY_KIND,
    RpcServer,
    rpc_server,
)

__all__ = [
    "ANSWER_EVERY_S",
    "BEACON_KIND",
    "BUDGET_BURST",
    "BUDGET_PER_S",
    "METHODS",
    "OVER_BUDGET",
    "PROTOCOL_VERSION",
    "RATE_LIMITED",
    "RPC_KIND",
    "STALE_CLAIM_S",
    "TELEMETRY_KIND",
    "DuplicateInFlight",
    "OncePerInterval",
    "RpcError",
    "RpcRequest",
    "RpcServer",
    "StrangerGate",
    "TokenBucket",
    "dispatch",
    "once",
    "parse_request",
    "rpc_server",
]

"""What the wire contract fixes: event kinds, the protocol version, and the
error a server's ``{"error": {...}}`` answer becomes."""

from __future__ import annotations

from typing import Any

KIND_RPC = 21000
KIND_BEACON = 30078
KIND_TELEMETRY = 30079
PROTOCOL_VERSION = 1
DEFAULT_RELAY = "ws://127.0.0.1:7777"
# Responses older than this (relative to our clock when subscribing) are not asked
# for; the contract's server drops requests more than 300 s off its clock anyway.
SUBSCRIPTION_LOOKBACK_S = 300


class RpcError(Exception):
    """The server answered with ``{"error": {...}}``."""

    def __init__(self, method: str, response: dict[str, Any]) -> None:
        error = response.get("error")
        if not isinstance(error, dict):
            error = {"code": "internal", "message": repr(error)}
        self.method = method
        self.response = response
        self.code = str(error.get("code"))
        self.message = str(error.get("message", ""))
        self.summary: dict[str, Any] = {}
        super().__init__(f"{method}: {self.code}: {self.message}")


def ms(seconds: float) -> int:
    """Whole milliseconds, as the simulator's log lines and summaries give them."""
    return round(seconds * 1000)

"""The two ways a request ends without a result."""

from __future__ import annotations


class RpcError(Exception):
    """An error response: one of the contract's codes and a human message."""

    def __init__(self, code: str, message: str, data: dict | None = None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        # Machine-readable details (contract §9.1), sent as ``error.data``.
        self.data = data


class DuplicateInFlight(Exception):
    """The same request is being handled right now; its answer will follow."""

"""Rows of the RPC server's own tables: claimed requests and the request log."""

from __future__ import annotations

from .base import ApiModel


class RpcRequestRow(ApiModel):
    """A claimed (machine, method, tx_id): ``processing`` while its effect runs,
    then ``done`` with the stored ``response`` that retries are answered with."""

    id: str
    machine_id: str
    method: str
    tx_id: str
    params_hash: str
    status: str
    response: str | None = None
    created_at: int
    updated_at: int


class RpcLogRow(ApiModel):
    """One answered request, as the operator's RPC log shows it."""

    id: str
    created_at: int
    operator_id: str | None = None
    machine_id: str | None = None
    pubkey: str
    event_id: str
    relay: str | None = None
    request_id: str | None = None
    method: str | None = None
    tx_id: str | None = None
    latency_ms: int
    error_code: str | None = None


class RpcErrorCount(ApiModel):
    """How often an operator's machines got one answer code (``ok`` for results)."""

    code: str
    count: int
    last_at: int

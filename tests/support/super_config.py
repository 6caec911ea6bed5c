"""The super user's config (platform fee, relays, limits), set for a test or a
module and put back afterwards, so that no test depends on what ran before it.

The fixtures ``super_config`` (one test) and ``super_config_for_module`` in
``tests/conftest.py`` hand out a ``SuperConfigSetter`` for the in-process LNbits;
``site_config`` and ``site_config_for_module`` in ``browser_site.py`` one for the
browser tests' LNbits."""

from __future__ import annotations

from typing import Protocol

import httpx

from helpers import API

# What GET /super/config shows but PUT does not take: the server's identity (its
# own endpoint rotates it), the time of the last change, fee_basis, which only
# says whether both directions' bases agree, and configured, which says whether the
# setup is complete.
NOT_SETTABLE = frozenset(
    {"server_pubkey", "server_npub", "updated_at", "fee_basis", "configured"}
)


class HasHeaders(Protocol):
    """The super user as either test harness holds it (helpers.Actor or
    lnbits_api.Account)."""

    @property
    def headers(self) -> dict[str, str]: ...


class SuperConfigSetter:
    """``remember`` reads the config; ``put`` sends ``PUT /super/config`` as the
    super user and answers with the response, whatever its status, for the test
    to check (``set`` is ``put`` for a test's preparation); ``restore`` puts back
    every setting that differs from what ``remember`` read, whoever changed it,
    in one request (a fee and its wallet go back together)."""

    def __init__(self, client: httpx.AsyncClient, super_user: HasHeaders) -> None:
        self.client = client
        self.super_user = super_user
        self._before: dict | None = None

    async def get(self) -> dict:
        self.client.cookies.clear()  # the request says who makes it, nothing else
        response = await self.client.get(
            f"{API}/super/config", headers=self.super_user.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def remember(self) -> None:
        self._before = await self.get()

    async def put(self, body: dict) -> httpx.Response:
        self.client.cookies.clear()
        return await self.client.put(
            f"{API}/super/config", json=body, headers=self.super_user.headers
        )

    async def set(self, body: dict) -> dict:
        """``put`` for a test's preparation: the new config, or a failed test."""
        response = await self.put(body)
        assert response.status_code == 200, response.text
        return response.json()

    async def restore(self) -> None:
        assert self._before is not None, "restore without remember"
        before, now = self._before, await self.get()
        changed = {
            name: value
            for name, value in before.items()
            if name not in NOT_SETTABLE and now[name] != value
        }
        if changed:
            await self.set(changed)

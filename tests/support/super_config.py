"""The super user's config (platform fee, relays, limits), set for a test or a
module and put back afterwards, so that no test depends on what ran before it.

The fixtures ``super_config`` (one test) and ``super_config_for_module`` in
``tests/conftest.py`` hand out a ``SuperConfigSetter``."""

from __future__ import annotations

import httpx
from helpers import API, Actor

# Settings that change two stored fields at once.
BOTH_BASES = {"fee_basis": ("cash_in_fee_basis", "cash_out_fee_basis")}


class SuperConfigSetter:
    """``put`` sends ``PUT /super/config`` as the super user and answers with the
    response, whatever its status, for the test to check. ``restore`` puts back
    the fields any ``put`` named that differ now from what they were before the
    first one, in one request (a fee and its wallet go back together)."""

    def __init__(self, client: httpx.AsyncClient, super_user: Actor) -> None:
        self.client = client
        self.super_user = super_user
        self._before: dict | None = None
        self._named: set[str] = set()

    async def get(self) -> dict:
        self.client.cookies.clear()  # the request says who makes it, nothing else
        response = await self.client.get(
            f"{API}/super/config", headers=self.super_user.headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def put(self, body: dict) -> httpx.Response:
        if self._before is None:
            self._before = await self.get()
        for name in body:
            self._named.update(BOTH_BASES.get(name, (name,)))
        self.client.cookies.clear()
        return await self.client.put(
            f"{API}/super/config", json=body, headers=self.super_user.headers
        )

    async def restore(self) -> None:
        if self._before is None:
            return
        before, now = self._before, await self.get()
        changed = {
            name: before[name]
            for name in sorted(self._named)
            if name in before and now[name] != before[name]
        }
        if changed:
            response = await self.client.put(
                f"{API}/super/config", json=changed, headers=self.super_user.headers
            )
            assert response.status_code == 200, response.text

"""What a request from an author that is not an active machine may cost.

Anyone can publish a kind-21000 event p-tagged to the server, and an answer costs an
ECDH, a NIP-44 encryption and a signature. So for such authors (``StrangerGate``):

- an author answered in the last minute is dropped before any of that, so each gets
  at most one answer (``unknown_machine``, ``bad_request``) per minute;
- all of them together share a token bucket (10 a second, bursts of 20), so a flood
  from many fresh keys leaves the registered machines' latency alone.

``pair`` answers do not count against the per-author minute (a machine pairing with
a mistyped token may try again at once), only against the shared budget.

Every map is bounded. The clock is injectable (monotonic seconds) for tests.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

Clock = Callable[[], float]

ANSWER_EVERY_S = 60.0
BUDGET_PER_S = 10.0
BUDGET_BURST = 20

RATE_LIMITED = "unknown_rate_limited"
OVER_BUDGET = "unknown_over_budget"


class TokenBucket:
    """``burst`` tokens, refilled at ``rate_per_s``; ``take`` spends one if any."""

    def __init__(
        self, *, rate_per_s: float, burst: int, clock: Clock = time.monotonic
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("need rate_per_s > 0 and burst >= 1")
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def take(self) -> bool:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._last = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class OncePerInterval:
    """Which keys had their turn in the last ``interval_s``: at most ``max_keys``.

    Entries are kept in the order they were claimed, which is also the order they
    expire in, so expiring is popping from the front.
    """

    def __init__(
        self, *, interval_s: float, max_keys: int, clock: Clock = time.monotonic
    ) -> None:
        if interval_s <= 0 or max_keys < 1:
            raise ValueError("need interval_s > 0 and max_keys >= 1")
        self._interval = interval_s
        self._max_keys = max_keys
        self._clock = clock
        self._claimed: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._claimed)

    def _expire(self, now: float) -> None:
        while self._claimed:
            first_at = next(iter(self._claimed.values()))
            if now - first_at < self._interval:
                return
            self._claimed.popitem(last=False)

    def blocked(self, key: str) -> bool:
        """True while ``key``'s last turn is less than ``interval_s`` ago."""
        self._expire(self._clock())
        return key in self._claimed

    def claim(self, key: str) -> bool:
        """Takes ``key``'s turn; False (and nothing changes) if it is blocked."""
        now = self._clock()
        self._expire(now)
        if key in self._claimed:
            return False
        self._claimed[key] = now
        while len(self._claimed) > self._max_keys:
            self._claimed.popitem(last=False)
        return True


class StrangerGate:
    """The budget of requests from authors that are not active machines."""

    def __init__(
        self,
        *,
        answer_every_s: float = ANSWER_EVERY_S,
        budget_per_s: float = BUDGET_PER_S,
        burst: int = BUDGET_BURST,
        clock: Clock = time.monotonic,
    ) -> None:
        self.budget = TokenBucket(rate_per_s=budget_per_s, burst=burst, clock=clock)
        # Every claimed answer spent a budget token first, so no more than this many
        # authors can hold a turn at once: the bound never evicts a live turn.
        most_at_once = math.ceil(budget_per_s * answer_every_s) + burst
        self.answered = OncePerInterval(
            interval_s=answer_every_s, max_keys=most_at_once, clock=clock
        )

    def admit(self, author: str, *, expected: bool = False) -> str | None:
        """None if a request of ``author`` may be worked on, else why it is dropped.
        An ``expected`` author (a key an operator added, not yet confirmed) skips
        its minute, so that its ``pair`` is not held back by an earlier answer; it
        still spends the shared budget.

        Call before any work: it spends a budget token when it admits."""
        if not expected and self.answered.blocked(author):
            return RATE_LIMITED
        if not self.budget.take():
            return OVER_BUDGET
        return None

    def claim_answer(self, author: str) -> bool:
        """Takes ``author``'s answer of this minute; False if another took it."""
        return self.answered.claim(author)

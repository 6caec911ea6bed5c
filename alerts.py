"""An alert's life, as a pure state machine driven by a clock it is given.

Each alert (an operator, a kind, a subject such as a machine) is evaluated
again and again with whether its condition holds now. It sends:

- ``fire`` once, when the condition has held for ``fire_after_s`` (a machine
  offline for a moment is no alert);
- ``repeat`` while it still holds, at most every ``repeat_s`` (None: never);
- ``resolve`` once, when the condition has stayed false for ``hold_down_s``.
  A condition that comes back within that window was a flap: nothing is sent,
  and the alert carries on as if it had never cleared.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

__all__ = ["Action", "AlertState", "Phase", "Timing", "step"]


class Phase(str, Enum):
    ok = "ok"
    pending = "pending"  # the condition holds, not yet for fire_after_s
    firing = "firing"
    clearing = "clearing"  # fired; the condition is false, not yet for hold_down_s


class Action(str, Enum):
    fire = "fire"
    repeat = "repeat"
    resolve = "resolve"


@dataclass(frozen=True)
class Timing:
    fire_after_s: int = 0
    hold_down_s: int = 0
    repeat_s: int | None = None

    def __post_init__(self) -> None:
        for value in (self.fire_after_s, self.hold_down_s, self.repeat_s or 0):
            if not 0 <= value <= 366 * 86400:
                raise ValueError("alert timings must be 0 s .. a year")
        if self.repeat_s == 0:
            raise ValueError("a repeat interval must be positive (None: never)")


@dataclass(frozen=True)
class AlertState:
    phase: Phase = Phase.ok
    since: int | None = None  # when pending or clearing began
    fired_at: int | None = None
    last_sent_at: int | None = None


def _elapsed(now: int, since: int | None) -> int:
    # A clock that went back counts as no time passed, never as negative.
    return 0 if since is None else max(0, now - since)


def _fire(now: int) -> tuple[AlertState, Action]:
    return AlertState(Phase.firing, None, now, now), Action.fire


def _while_firing(
    state: AlertState, now: int, timing: Timing
) -> tuple[AlertState, Action | None]:
    firing = replace(state, phase=Phase.firing, since=None)
    if timing.repeat_s is not None and (
        _elapsed(now, state.last_sent_at) >= timing.repeat_s
    ):
        return replace(firing, last_sent_at=now), Action.repeat
    return firing, None


def step(
    state: AlertState, condition: bool, now: int, timing: Timing
) -> tuple[AlertState, Action | None]:
    """The state after observing ``condition`` at ``now``, and what to send."""
    if state.phase == Phase.ok:
        if not condition:
            return state, None
        if timing.fire_after_s == 0:
            return _fire(now)
        return AlertState(Phase.pending, now), None
    if state.phase == Phase.pending:
        if not condition:
            return AlertState(), None
        if _elapsed(now, state.since) >= timing.fire_after_s:
            return _fire(now)
        return state, None
    if condition:  # firing, or back from clearing: a flap sends nothing
        return _while_firing(state, now, timing)
    if state.phase == Phase.firing:
        state = replace(state, phase=Phase.clearing, since=now)
    if _elapsed(now, state.since) >= timing.hold_down_s:
        return AlertState(), Action.resolve
    return state, None

"""The alert state machine on a fake clock: it fires once, resolves once,
sends nothing for a flap within the hold-down window, and repeats at most
every repeat interval."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import FakeClock
from satmachineadmin.alerts import Action, AlertState, Phase, Timing, step

MINUTE = 60
HOUR = 3600


class Alert:
    """One alert observed on a fake clock; ``sent`` is what it sent, when."""

    def __init__(self, timing: Timing, clock: FakeClock) -> None:
        self.timing, self.clock = timing, clock
        self.state = AlertState()
        self.sent: list[tuple[int, Action]] = []

    def observe(self, condition: bool, after_s: int = 0) -> None:
        self.clock.now += after_s
        self.state, action = step(
            self.state, condition, int(self.clock.now), self.timing
        )
        if action is not None:
            self.sent.append((int(self.clock.now), action))

    def actions(self) -> list[Action]:
        return [action for _, action in self.sent]


def alert(**timing) -> Alert:
    return Alert(Timing(**timing), FakeClock(now=1_000_000))


def test_fires_once_and_resolves_once():
    a = alert(hold_down_s=10 * MINUTE)
    for _ in range(30):
        a.observe(True, after_s=MINUTE)
    assert a.actions() == [Action.fire]
    for _ in range(30):
        a.observe(False, after_s=MINUTE)
    assert a.actions() == [Action.fire, Action.resolve]
    assert a.state == AlertState()


def test_a_condition_must_hold_for_fire_after():
    a = alert(fire_after_s=15 * MINUTE)
    a.observe(True)
    a.observe(True, after_s=14 * MINUTE)
    a.observe(False, after_s=MINUTE)  # back before the threshold: nothing
    a.observe(True, after_s=MINUTE)
    a.observe(True, after_s=14 * MINUTE)
    assert a.actions() == []
    a.observe(True, after_s=MINUTE)
    assert a.actions() == [Action.fire]


def test_a_flap_within_the_hold_down_sends_nothing():
    a = alert(hold_down_s=10 * MINUTE)
    a.observe(True)
    for _ in range(5):  # off for 9 minutes, on again, many times
        a.observe(False, after_s=MINUTE)
        a.observe(False, after_s=8 * MINUTE)
        a.observe(True, after_s=MINUTE)
    assert a.actions() == [Action.fire]
    assert a.state.phase == Phase.firing
    a.observe(False, after_s=MINUTE)
    a.observe(False, after_s=10 * MINUTE)
    assert a.actions() == [Action.fire, Action.resolve]


def test_repeats_at_most_every_interval():
    a = alert(hold_down_s=0, repeat_s=4 * HOUR)
    a.observe(True)
    for _ in range(12 * 60):  # twelve hours, observed every minute
        a.observe(True, after_s=MINUTE)
    times = [t for t, _ in a.sent]
    assert a.actions() == [Action.fire, Action.repeat, Action.repeat, Action.repeat]
    assert all(b - a_ >= 4 * HOUR for a_, b in itertools.pairwise(times))
    a.observe(False, after_s=MINUTE)
    assert a.actions()[-1] == Action.resolve


def test_never_repeats_without_an_interval():
    a = alert(repeat_s=None)
    a.observe(True)
    a.observe(True, after_s=30 * 86400)
    assert a.actions() == [Action.fire]


def test_a_clock_that_goes_back_does_not_rush_anything():
    a = alert(fire_after_s=HOUR)
    a.observe(True)
    a.observe(True, after_s=-10 * HOUR)
    a.observe(True, after_s=30 * MINUTE)
    assert a.actions() == []


@pytest.mark.parametrize(
    "timing", [{"repeat_s": 0}, {"hold_down_s": -1}, {"fire_after_s": 10**9}]
)
def test_timings_are_bounded(timing):
    with pytest.raises(ValueError):
        Timing(**timing)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 2 * HOUR)), max_size=200),
    st.integers(0, HOUR),
    st.integers(0, HOUR),
    st.one_of(st.none(), st.integers(1, 6 * HOUR)),
)
def test_fire_and_resolve_alternate_and_repeats_are_spaced(
    observations, fire_after, hold_down, repeat
):
    a = alert(fire_after_s=fire_after, hold_down_s=hold_down, repeat_s=repeat)
    for condition, after in observations:
        a.observe(condition, after_s=after)
    edges = [x for x in a.actions() if x != Action.repeat]
    assert edges == [Action.fire, Action.resolve] * (len(edges) // 2) + (
        [Action.fire] if len(edges) % 2 else []
    )
    last_sent = 0
    for when, action in a.sent:
        if action == Action.repeat:
            assert repeat is not None and when - last_sent >= repeat
        if action != Action.resolve:
            last_sent = when

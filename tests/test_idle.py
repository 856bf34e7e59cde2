"""The idle decision, rule by rule (simclock.clock.idle).

Each case is a snapshot of an idle run and the one verdict a real run's wait
would have ended with. The loop and a blocking wait on the loop's thread both
ask `decide`; their own tests show they carry the verdicts out.
"""

from __future__ import annotations

import math

import pytest

from simclock.clock.idle import Decision, Snapshot, Verdict, decide

CASES = [
    ("nothing pending, nothing outside", Snapshot(), Decision(Verdict.DEADLOCK)),
    (
        "nothing pending, a socket could still wake it",
        Snapshot(could_be_woken=True),
        Decision(Verdict.WAIT_FOR_OUTSIDE),
    ),
    ("a timer", Snapshot(next_timer=5.0), Decision(Verdict.JUMP, 5.0)),
    (
        "a worker's wait ends first",
        Snapshot(next_timer=5.0, next_wait=3.0),
        Decision(Verdict.JUMP, 3.0),
    ),
    (
        "a timer, though a socket could wake it: jumping is what waiting would end with",
        Snapshot(next_timer=5.0, could_be_woken=True),
        Decision(Verdict.JUMP, 5.0),
    ),
    (
        "something owed comes before any timer",
        Snapshot(next_timer=5.0, owed=True, peer_budget=0.5),
        Decision(Verdict.DELIVER),
    ),
    (
        "a peer outside is expected: it gets its grace first",
        Snapshot(next_timer=5.0, peer_budget=0.25),
        Decision(Verdict.WAIT_FOR_PEER, seconds=0.25),
    ),
    (
        "a peer expected, but no deadline: nothing to jump to",
        Snapshot(peer_budget=0.25),
        Decision(Verdict.DEADLOCK),
    ),
    (
        "autojump off and no advance: frozen",
        Snapshot(next_timer=5.0, autojump=False),
        Decision(Verdict.FROZEN),
    ),
    (
        "autojump off and no advance, but I/O could come",
        Snapshot(next_timer=5.0, autojump=False, could_be_woken=True),
        Decision(Verdict.WAIT_FOR_OUTSIDE),
    ),
    (
        "autojump off, the timer within the advance",
        Snapshot(next_timer=5.0, autojump=False, advancing_to=8.0),
        Decision(Verdict.JUMP, 5.0),
    ),
    (
        "autojump off, the timer past the advance",
        Snapshot(next_timer=9.0, autojump=False, advancing_to=8.0),
        Decision(Verdict.END_ADVANCE, 8.0),
    ),
    (
        "autojump off, nothing left before the advance's instant",
        Snapshot(autojump=False, advancing_to=8.0),
        Decision(Verdict.END_ADVANCE, 8.0),
    ),
    (
        "only background tasks tick",
        Snapshot(next_timer=5.0, only_background=True),
        Decision(Verdict.BACKGROUND_ONLY),
    ),
    (
        "a replaced loop.time: wait for it, at most a second at a time",
        Snapshot(next_timer=5.0, replaced_time=4.5),
        Decision(Verdict.WAIT_FOR_REPLACED_CLOCK, seconds=0.5),
    ),
    (
        "a replaced loop.time far behind",
        Snapshot(next_timer=50.0, replaced_time=4.5),
        Decision(Verdict.WAIT_FOR_REPLACED_CLOCK, seconds=1.0),
    ),
]


@pytest.mark.parametrize(
    ("snapshot", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_rule_gives_its_verdict(snapshot: Snapshot, expected: Decision) -> None:
    assert decide(snapshot) == expected


def test_the_same_snapshot_always_gets_the_same_answer() -> None:
    snapshot = Snapshot(next_timer=7.0, next_wait=7.0, could_be_woken=True)
    assert {decide(snapshot) for _ in range(10)} == {Decision(Verdict.JUMP, 7.0)}


def test_an_infinite_deadline_is_no_deadline() -> None:
    assert decide(Snapshot(next_timer=math.inf, next_wait=math.inf)).verdict is Verdict.DEADLOCK

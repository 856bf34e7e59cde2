"""Schedules as a Hypothesis strategy: found, shrunk to what matters, replayed."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip(
    "hypothesis",
    reason="needs Hypothesis: pip install -e '.[test,hypothesis]' (no wheel for a free-threaded "
    "3.13, so scripts/test leaves it out there)",
)

from hypothesis import HealthCheck, Phase, find, given, settings

import simclock
from simclock.strategies import ScheduleChoices, schedules


def lost_update():
    """Two deposits read, await a round trip, then write: racy only if the awaits are slow."""
    state = {"balance": 0}

    async def deposit(amount):
        seen = state["balance"]
        await asyncio.sleep(0)  # the write's round trip
        state["balance"] = seen + amount

    async def main():
        state["balance"] = 0
        first = asyncio.create_task(deposit(10))
        await asyncio.sleep(0)
        second = asyncio.create_task(deposit(5))
        await asyncio.gather(first, second)
        return state["balance"]

    return main


def tie():
    """Two timers due at one instant: the later-scheduled one must not run first."""

    async def main():
        order = []

        async def at_one(name):
            await asyncio.sleep(1)
            order.append(name)

        await asyncio.gather(at_one("first"), at_one("second"))
        return order

    return main


def test_hypothesis_finds_a_race_and_shrinks_it_to_one_small_choice():
    main = lost_update()
    failing = find(
        schedules(awaits=True),
        lambda schedule: schedule.run(main) != 15,
        settings=settings(max_examples=500, database=None, phases=[Phase.generate, Phase.shrink]),
    )
    # Shrunk toward asyncio's order: one number left, and it is small.
    assert len(failing.choices) <= 2 and max(failing.choices) <= 3, failing
    assert failing.run(main) != 15  # it replays
    assert ScheduleChoices(()).run(main) == 15  # asyncio's own order passes


def test_choices_pick_the_order_of_a_tie_and_past_their_end_asyncio_decides():
    main = tie()
    assert ScheduleChoices(()).run(main) == ["first", "second"]
    assert ScheduleChoices((1,)).run(main) == ["second", "first"]
    assert ScheduleChoices((2,)).run(main) == ["first", "second"]  # counted round: the first


@settings(max_examples=30, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(schedule=schedules())
def test_a_given_schedule_is_one_asyncio_could_take(schedule):
    # Whatever Hypothesis draws, a tie is ordered one way or the other; nothing else moves.
    order = schedule.run(tie())
    assert sorted(order) == ["first", "second"]


def test_a_failure_names_the_choices_that_replay_it():
    async def main():
        await tie()()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError) as caught:
        ScheduleChoices((1, 0, 2)).run(main)
    assert "schedule choices=[1, 0, 2]" in "\n".join(caught.value.__notes__)


@pytest.mark.parametrize(
    ("arguments", "error", "words"),
    [
        ({"most_decisions": 0}, ValueError, "most_decisions must be at least 1"),
        ({"most_decisions": 2.5}, TypeError, "most_decisions must be an int"),
    ],
)
def test_bad_strategy_arguments_are_named(arguments, error, words):
    with pytest.raises(error, match=words):
        schedules(**arguments)


def test_negative_choices_are_refused():
    with pytest.raises(ValueError, match="choices must be whole numbers >= 0"):
        simclock.Clock(seed=0, choices=[1, -1])

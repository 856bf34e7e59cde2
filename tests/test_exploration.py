"""Schedule exploration and replay by seed, the determinism check, manual time, wall time."""

import asyncio
import datetime as dt
import gc
import importlib
import sys
import time
from pathlib import Path

import pytest

import simclock
from simclock.clock.schedule import Schedule

RACES = Path(__file__).resolve().parent.parent / "examples" / "races"
RACE_EXAMPLES = ["token_refresh", "lost_update", "lock_order"]


@pytest.fixture(params=RACE_EXAMPLES)
def race(request, monkeypatch):
    monkeypatch.syspath_prepend(str(RACES))
    module = importlib.import_module(request.param)
    yield module
    sys.modules.pop(request.param, None)


def test_each_race_passes_in_asyncios_own_order(race):
    simclock.run(race.main())


def test_exploration_finds_each_race_within_100_runs_and_its_seed_replays(race):
    with pytest.raises((AssertionError, simclock.Deadlock)) as found:
        simclock.explore(race.main, runs=100, seed=0)
    notes = "\n".join(found.value.__notes__)
    assert "found by simclock.explore on run" in notes
    seed = int(notes.split("simclock.run(main(), seed=")[1].split(")")[0])
    assert "(default: " in notes  # the decision that differed, with the tasks involved
    for _ in range(3):  # the same schedule, every time
        with pytest.raises(type(found.value)):
            simclock.run(race.main(), seed=seed)


def test_a_program_without_races_passes_every_explored_schedule():
    async def main():
        lock = asyncio.Lock()
        total = []

        async def add(index):
            await asyncio.sleep(1)
            async with lock:
                value = len(total)
                await asyncio.sleep(0)
                total.append(value)

        await asyncio.gather(*(add(index) for index in range(5)))
        assert total == [0, 1, 2, 3, 4]

    result = simclock.explore(main, runs=50, seed=7)
    assert result.runs == 50 and result.seeds == range(7, 57)
    assert result.reordered > 0  # schedules did differ from asyncio's order
    # How many distinct schedules 50 runs took: more than one, at most 50; and as
    # many again for the same seeds (a coverage figure, not a guess).
    assert 1 < result.distinct <= 50
    assert simclock.explore(main, runs=50, seed=7).distinct == result.distinct


def test_explored_schedules_keep_asyncios_ordering_contracts():
    async def main():
        loop = asyncio.get_running_loop()
        seen = []
        for index in range(5):
            loop.call_soon(seen.append, ("soon", index))
        future = loop.create_future()
        for index in range(3):
            future.add_done_callback(lambda _, index=index: seen.append(("done", index)))

        async def sleeper(name):
            for step in range(3):
                await asyncio.sleep(1)
                seen.append((name, step))

        loop.call_later(0.5, future.set_result, None)
        await asyncio.gather(sleeper("a"), sleeper("b"))
        soon = [item for item in seen if item[0] == "soon"]
        done = [item for item in seen if item[0] == "done"]
        steps = {name: [s for n, s in seen if n == name] for name in "ab"}
        assert soon == [("soon", index) for index in range(5)]
        assert done == [("done", index) for index in range(3)]
        assert steps == {"a": [0, 1, 2], "b": [0, 1, 2]}
        return [item for item in seen if item[0] in "ab"]

    orders = set()
    for seed in range(40):
        orders.add(tuple(simclock.run(main(), seed=seed)))
    assert len(orders) > 1  # a and b did swap at some tie


def test_a_sleeps_timer_is_ordered_as_the_task_it_wakes(monkeypatch):
    # The timers of one instant are ordered by whom they wake: a sleep's timer
    # keeps the task that set it, which must be the task its future wakes.
    from simclock._compat.asyncio_internals import owner_of

    seen: list[tuple[list[object], list[object]]] = []
    order = Schedule.order

    def checked(self, handles, now, owners=None):
        seen.append((list(owners), [owner_of(handle) for handle in handles]))
        return order(self, handles, now, owners)

    monkeypatch.setattr(Schedule, "order", checked)

    async def sleeper(index):
        for _ in range(3):
            await asyncio.sleep(1 + index % 2)
        loop = asyncio.get_running_loop()
        woken = loop.create_future()
        loop.call_later(1, woken.set_result, None)  # not a sleep: ordered as its future
        await woken

    async def main():
        await asyncio.gather(*(sleeper(index) for index in range(6)))

    simclock.run(main(), seed=3)
    assert seen and all(recorded == found for recorded, found in seen)
    tasks = [owner for recorded, _ in seen for owner in recorded]
    assert any(isinstance(owner, asyncio.Task) for owner in tasks)
    assert any(
        isinstance(owner, asyncio.Future) and not isinstance(owner, asyncio.Task) for owner in tasks
    )


def test_a_seed_gives_the_same_schedule_every_time():
    async def main():
        order = []

        async def worker(name):
            for _ in range(5):
                await asyncio.sleep(1)
                order.append(name)

        await asyncio.gather(*(worker(name) for name in "abcd"))
        return order

    assert len({tuple(simclock.run(main(), seed=12345)) for _ in range(5)}) == 1
    assert simclock.run(main()) == list("abcd") * 5  # no seed: asyncio's own order


class _Owner:
    """Something a handle acts for, as a schedule sees it (weakly referenced)."""


def _later_first(seeds, earlier=0):
    """Over `seeds`, how often a tie of two fresh owners runs the later-scheduled one first,
    after `earlier` other owners were met."""
    later_first = 0
    for seed in seeds:
        schedule = Schedule(seed)
        met = [_Owner() for _ in range(earlier)]
        if met:
            schedule.order(list(range(earlier)), 0.0, met)
        first, second = _Owner(), _Owner()
        later_first += schedule.order(["first", "second"], 0.0, [first, second])[0] == "second"
    return later_first


def test_explored_priorities_lean_toward_the_owner_met_later():
    # asyncio's order (the owner met first goes first) is what a plain run tests:
    # explored runs mostly try the other one, and still try asyncio's sometimes.
    assert 150 <= _later_first(range(200)) <= 190  # 1 / (1 + e**-2): 176 expected


def test_the_lean_stops_growing_past_the_first_owners_a_run_meets():
    # Two owners met after many others lean up alike: their order is an even draw.
    assert 70 <= _later_first(range(200), earlier=12) <= 130


def test_a_slow_await_belongs_to_a_task_ranked_below_other_ready_work():
    postponed = {"older": 0, "newer": 0}
    for seed in range(200):
        schedule = Schedule(seed, awaits=True)
        older, newer = _Owner(), _Owner()
        schedule.order(["older", "newer"], 0.0, [older, newer])  # both met, older first
        ranked_below = schedule._priority(older) < schedule._priority(newer)
        late = schedule.postpone(older, 0.0, [newer])
        assert (late > 0) == ranked_below
        postponed["older"] += late > 0
        postponed["newer"] += schedule.postpone(newer, 0.0, [older]) > 0
    assert postponed["older"] > 2 * postponed["newer"]


def test_drift_never_lets_a_later_deadline_come_due_first():
    # A 1.05 s timer set right after a 1.0 s one: no real run fires it first, and
    # drift (CPU time added to steps) must not either, from any seed.
    async def main():
        loop = asyncio.get_running_loop()
        order = []
        loop.call_later(1.0, order.append, "short")
        loop.call_later(1.05, order.append, "long")
        await asyncio.sleep(2)
        return order

    for seed in range(50):
        assert simclock.run(main(), seed=seed, drift=0.5) == ["short", "long"]


def test_drift_finds_a_chain_of_steps_racing_one_longer_timer():
    # Four 0.24 s steps against one 1.0 s timeout: nominally the chain ends 40 ms
    # early and passes every run on an idle machine; with CPU time between its
    # steps the timeout can come first, as on a loaded one.
    async def main():
        done = []

        async def chain():
            for _ in range(4):
                await asyncio.sleep(0.24)
            done.append("chain")

        task = asyncio.create_task(chain())
        await asyncio.sleep(1.0)
        assert done == ["chain"], "the timeout came before the chain ended"
        await task

    simclock.run(main())  # asyncio's own order hides it
    with pytest.raises(AssertionError) as caught:
        simclock.explore(main, runs=20, seed=0, drift=0.02)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "drift: " in notes and "steps each took up to 0.02s" in notes


def _partial_flush():
    # A poller's eight 125 ms steps end at t=1.0 on paper, 1 ms before the flush;
    # two chatty tasks run meanwhile. Only the poller's slowness matters.
    async def main():
        items, flushed = [], []

        async def poller():
            for item in range(8):
                await asyncio.sleep(0.125)
                items.append(item)

        async def flusher():
            await asyncio.sleep(1.001)
            flushed.append(len(items))

        async def chatter():
            for _ in range(20):
                await asyncio.sleep(0.05)

        await asyncio.gather(poller(), flusher(), chatter(), chatter())
        assert flushed == [8], f"flushed a partial batch of {flushed[0]}"

    return main


def test_a_drift_failure_is_shrunk_to_the_tasks_whose_slowness_it_needs():
    main = _partial_flush()
    simclock.run(main())  # asyncio's own order, no drift: it passes
    with pytest.raises(AssertionError) as caught:
        simclock.explore(main, runs=50, seed=0, drift=0.001)
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    report, shrunk = notes.split("shrunk to ", 1)
    assert "chatter() (Task-" in report  # the run itself had more tasks slow
    needed = shrunk.split("still fails with only ", 1)[1]
    assert needed.startswith("1 of the ")
    assert "poller() (Task-" in needed and "chatter()" not in needed
    assert "slow steps" in needed and "ms in all" in needed


def test_slow_only_keeps_the_drift_of_the_named_tasks_alone():
    main = _partial_flush()
    everyone = simclock.Clock(seed=0, drift=0.001)
    with pytest.raises(AssertionError):
        simclock.run(main(), clock=everyone)
    assert everyone.schedule is not None and len(everyone.schedule.lags) > 1
    nobody = simclock.Clock(seed=0, drift=0.001, slow_only=frozenset())
    simclock.run(main(), clock=nobody)  # no drift: asyncio's order, and it passes
    assert nobody.schedule is not None and nobody.schedule.drifted == 0
    assert not nobody.schedule.lags
    poller = frozenset(key for key in everyone.schedule.lags if key[0].endswith("poller"))
    only = simclock.Clock(seed=0, drift=0.001, slow_only=poller)
    with pytest.raises(AssertionError):
        simclock.run(main(), clock=only)
    assert only.schedule is not None and set(only.schedule.lags) == poller


def _token_tie():
    async def main():
        order = []

        async def at_ten(name):
            await asyncio.sleep(10)
            order.append(name)

        await asyncio.gather(at_ten("renewer"), at_ten("request"))
        assert order == ["renewer", "request"], "the request used the expired token"

    return main


def test_exploring_with_drift_still_explores_ties():
    main = _token_tie()
    for start in range(0, 200, 20):
        with pytest.raises(AssertionError, match="expired token"):
            simclock.explore(main, runs=20, seed=start, drift=0.01)


def test_a_drifting_run_keeps_the_favoured_tasks_tie_and_lets_it_win():
    # The favoured task's steps take no time, so its deadline still ties with the
    # one set just before it, and it ranks first: the tie shows in a drifting run.
    main = _token_tie()
    failed = 0
    for seed in range(40):
        try:
            simclock.run(main(), seed=seed, drift=0.01)
        except AssertionError:
            failed += 1
    assert failed >= 20


def test_explore_drifts_the_first_run_and_keeps_exact_instants_in_the_next():
    calls = []

    async def fails_on(run):
        calls.append(None)
        await asyncio.sleep(1)
        if len(calls) == run:
            raise ValueError(f"run {run}")

    for run, drifted in ((1, True), (2, False), (3, True)):
        calls.clear()
        with pytest.raises(ValueError) as caught:
            simclock.explore(lambda run=run: fails_on(run), runs=5, seed=7, drift=0.01)
        replay = "\n".join(caught.value.__notes__).split("replay it with")[1]
        assert ("drift=0.01" in replay) == drifted, (run, replay)


def test_under_drift_only_the_top_ranked_live_owner_works_at_full_speed():
    schedule = Schedule(5, drift=0.01)
    owners = [_Owner() for _ in range(4)]
    schedule.order(list(range(4)), 0.0, owners)  # each draws its priority
    owners.sort(key=schedule._priority, reverse=True)
    assert schedule.step_cost(owners[0]) == 0.0
    for owner in owners[1:]:
        assert 0.005 <= schedule.step_cost(owner) <= 0.01
    del owners[0]  # gone: the next one down is favoured now
    gc.collect()
    assert schedule.step_cost(owners[0]) == 0.0
    assert schedule.step_cost(owners[1]) >= 0.005


def test_replaying_every_deviation_of_a_drifting_run_replays_its_costs_too():
    # Shrinking replays deviations by index: with drift, the replay must also
    # draw what the run drew (change points, slow awaits), or its costs differ.
    async def main():
        loop = asyncio.get_running_loop()

        async def worker():
            for tick in range(1, 7):
                await asyncio.sleep(0)
                woken = loop.create_future()
                loop.call_at(tick, woken.set_result, None)  # every worker's, at one instant
                await woken

        await asyncio.gather(*(worker() for _ in range(6)))

    demoted = 0
    for seed in range(30):
        clock = simclock.Clock(seed=seed, drift=0.01, awaits=True)
        simclock.run(main(), clock=clock)
        first = clock.schedule
        demoted += first._demoted > 0
        forced = {d.index: d.ranked for d in first.decisions}
        again = simclock.Clock(seed=seed, drift=0.01, awaits=True, forced=forced)
        simclock.run(main(), clock=again)
        assert again.schedule.fingerprint() == first.fingerprint()
        assert again.schedule.drifted == first.drifted
    assert demoted  # some run met a change point


def test_drift_makes_a_slow_tasks_chain_fall_behind_step_by_step():
    # Four 0.25 s retries against a deadline 3 ms after the last: only CPU time
    # taken before each step (what it sets comes later) can make the chain late.
    async def main():
        done = []

        async def client():
            for _ in range(4):
                await asyncio.sleep(0.25)
            done.append("client")

        async def deadline():
            await asyncio.sleep(1.003)
            assert done, "the deadline fired before the last retry"

        await asyncio.gather(client(), deadline())

    simclock.run(main())
    with pytest.raises(AssertionError, match="the deadline fired before the last retry"):
        simclock.explore(main, runs=40, drift=0.001)


def _check_then_act():
    # Two deposits read the balance, await what stands for a database round trip,
    # then write: the second read must come after the first write.
    state = {"balance": 0}

    async def deposit(amount):
        seen = state["balance"]
        await asyncio.sleep(0)  # the write's round trip
        state["balance"] = seen + amount

    async def main():
        state["balance"] = 0
        first = asyncio.create_task(deposit(10))
        await asyncio.sleep(0)  # a request of main's own
        second = asyncio.create_task(deposit(5))
        await asyncio.gather(first, second)
        assert state["balance"] == 15, f"a deposit was lost: {state['balance']}"

    return main


def test_awaits_that_stand_for_io_may_resume_late_and_find_a_lost_update():
    main = _check_then_act()
    simclock.run(main())  # asyncio's order: the first deposit ends before the second reads
    assert str(simclock.explore(main, runs=50)) == "no failure in 50 runs (1 distinct schedules)"
    with pytest.raises(AssertionError, match="a deposit was lost") as caught:
        simclock.explore(main, runs=50, awaits=True)
    notes = "\n".join(caught.value.__notes__)
    assert "shrunk to 1 deviation" in notes
    assert "the await of deposit() (Task-" in notes and "took longer: it resumed" in notes
    seed = int(notes.split("seed=")[1].split(",")[0])
    with pytest.raises(AssertionError):  # the seed replays it, awaits and all
        simclock.run(main(), seed=seed, awaits=True)


def test_a_late_await_never_passes_the_next_timer_nor_anyones_call_soon_order():
    # What awaits=True may change: only when a task's own bare yield resumes,
    # never past the instant's end (the next timer), never the order of other
    # callbacks among themselves.
    async def main():
        log = []

        async def yielder(name):
            for step in range(3):
                log.append((name, step, asyncio.get_running_loop().time()))
                await asyncio.sleep(0)

        loop = asyncio.get_running_loop()
        start = loop.time()
        for index in range(5):
            loop.call_soon(log.append, ("soon", index, loop.time()))
        tasks = [asyncio.create_task(yielder(name)) for name in "abc"]
        await asyncio.sleep(1)
        await asyncio.gather(*tasks)
        return log, start

    for seed in range(30):
        log, start = simclock.run(main(), seed=seed, awaits=True)
        assert all(at == start for _name, _index, at in log), "an await resumed past the timer"
        soons = [index for name, index, _at in log if name == "soon"]
        assert soons == [0, 1, 2, 3, 4]
        for name in "abc":
            assert [step for who, step, _at in log if who == name] == [0, 1, 2]


def test_awaits_needs_a_seed_and_a_bool():
    with pytest.raises(ValueError, match="awaits= explores schedules: give a seed= with it"):
        simclock.Clock(awaits=True)
    with pytest.raises(TypeError, match="awaits must be True or False"):
        simclock.Clock(seed=1, awaits="yes")


@pytest.mark.parametrize(
    ("options", "error", "words"),
    [
        ({"runs": 0}, ValueError, "runs must be a positive integer"),
        ({"runs": 2.5}, ValueError, "runs must be a positive integer"),
        ({"seed": "7"}, TypeError, "seed must be an integer"),
        ({"drift": 1.0}, ValueError, r"drift must be a number in \[0, 1\)"),
        ({"drift": -0.1}, ValueError, r"drift must be a number in \[0, 1\)"),
    ],
)
def test_bad_exploration_options_are_refused_by_name(options, error, words):
    async def main():
        pass

    with pytest.raises(error, match=words):
        simclock.explore(main, **options)


def test_explore_wants_a_callable_not_a_coroutine():
    async def main():
        pass

    coroutine = main()
    with pytest.raises(TypeError, match="callable that returns a coroutine"):
        simclock.explore(coroutine)  # type: ignore[arg-type]
    coroutine.close()


def test_drift_without_a_seed_is_refused():
    with pytest.raises(ValueError, match="give a seed"):
        simclock.Clock(drift=0.1)


def test_schedule_report_names_the_tasks_of_each_decision():
    schedule = Schedule(3)
    assert "seed=3" in schedule.report()
    assert "every decision took the default order" in schedule.report()


# The determinism self-check.


def test_check_passes_a_deterministic_program_and_returns_its_timeline():
    async def main():
        async def worker(name):
            await asyncio.sleep(1)
            print(name, time.time())

        await asyncio.gather(worker("a"), worker("b"))

    timeline = simclock.check(main)
    assert timeline.printed() == [
        "a 1735689601.0",
        "b 1735689601.0",
    ]


def test_check_reports_the_first_event_where_two_runs_differ():
    runs = iter(["first", "second"])

    async def main():
        await asyncio.sleep(1)
        print("hello")
        await asyncio.sleep(2)
        print(next(runs))  # something outside the clock decides this

    with pytest.raises(simclock.Nondeterminism) as error:
        simclock.check(main)
    message = str(error.value)
    assert "first run:" in message and "printed: first" in message
    assert "second run:" in message and "printed: second" in message
    assert "t=3.000000000s" in message


# Time that moves only when the test says so.


def test_manual_time_moves_only_by_advance_and_fires_each_timer_at_its_own_instant():
    async def main():
        clock = simclock.current_clock()
        loop = asyncio.get_running_loop()
        fired = []
        for delay in (3, 1, 2, 10):
            loop.call_later(delay, lambda d=delay: fired.append((d, clock.now)))
        await asyncio.sleep(0)
        assert fired == [] and clock.now == 0
        await clock.advance(5)
        assert clock.now == 5
        return fired

    assert simclock.run(main(), autojump=False) == [(1, 1.0), (2, 2.0), (3, 3.0)]


def test_manual_time_runs_what_each_timer_wakes_before_advance_returns():
    async def main():
        clock = simclock.current_clock()
        seen = []

        async def ticker():
            while True:
                await asyncio.sleep(1)
                seen.append(clock.now)

        task = asyncio.create_task(ticker())
        await clock.advance(3.5)
        seen.append("advanced")
        task.cancel()
        return seen

    assert simclock.run(main(), autojump=False) == [1.0, 2.0, 3.0, "advanced"]


def test_manual_time_with_nothing_to_do_is_a_deadlock_that_says_why():
    async def main():
        await asyncio.sleep(1)

    with pytest.raises(simclock.Deadlock, match="autojump is off"):
        simclock.run(main(), autojump=False)


def test_an_advance_never_awaited_under_manual_time_warns():
    async def main():
        clock = simclock.current_clock()
        clock.advance(1)  # forgot the await
        await asyncio.sleep(0)
        return clock.now

    with pytest.warns(RuntimeWarning, match="never awaited"):
        assert simclock.run(main(), autojump=False) == 0.0


def test_advance_with_autojump_moves_at_once_and_may_be_awaited():
    async def main():
        clock = simclock.current_clock()
        clock.advance(2)
        await clock.advance(3)
        return clock.now

    assert simclock.run(main()) == 5.0


# The wall clock on its own.


def test_set_wall_and_shift_wall_move_only_the_wall_clock():
    async def main():
        clock = simclock.current_clock()
        loop = asyncio.get_running_loop()
        fired = []
        loop.call_later(100, fired.append, "late timer")
        monotonic = time.monotonic()
        clock.set_wall(dt.datetime(2030, 6, 1, tzinfo=dt.UTC))
        after_set = dt.datetime.now(dt.UTC)
        clock.shift_wall(-3600)
        after_shift = time.time()
        await asyncio.sleep(0)
        return fired, time.monotonic() - monotonic, after_set, after_shift

    timeline = simclock.Timeline()
    fired, moved, after_set, after_shift = simclock.run(main(), timeline=timeline)
    assert fired == [] and moved == 0.0
    assert after_set == dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    assert after_shift == dt.datetime(2030, 6, 1, tzinfo=dt.UTC).timestamp() - 3600
    marks = [event.text for event in timeline.events if event.kind == simclock.EventKind.MARK]
    assert marks == ["wall clock set to 2030-06-01 00:00:00+00:00", "wall clock shifted by -3600s"]


@pytest.mark.parametrize("bad", ["2030-01-01", None])
def test_set_wall_refuses_what_is_not_an_instant(bad):
    with pytest.raises(TypeError):
        simclock.Clock().set_wall(bad)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "1"])
def test_shift_wall_refuses_what_is_not_a_finite_number(bad):
    with pytest.raises((TypeError, ValueError)):
        simclock.Clock().shift_wall(bad)


def test_manual_time_winds_down_on_its_own_once_main_has_ended():
    async def main():
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, time.sleep, 5)  # still sleeping when main returns
        await asyncio.sleep(0)
        return "main done"

    assert simclock.run(main(), autojump=False) == "main done"


def test_an_advance_past_the_limit_is_refused_like_any_jump():
    async def main():
        await simclock.current_clock().advance(100)

    with pytest.raises(simclock.TimeLimitExceeded):
        simclock.run(main(), autojump=False, limit=10)


def test_explore_takes_clock_options_and_names_them_in_its_replay_hint():
    async def main():
        clock = simclock.current_clock()
        order: list[str] = []

        async def worker(name):
            await asyncio.sleep(1)
            order.append(name)

        await asyncio.gather(worker("a"), worker("b"))
        assert clock.now == 1.0
        assert order == ["a", "b"], order

    with pytest.raises(AssertionError) as found:
        simclock.explore(main, runs=50, start=0, limit=60)
    hint = found.value.__notes__[-1]
    assert "start=0" in hint and "limit=60" in hint and "--simclock-seed=" in hint
    with pytest.raises(TypeError, match="instead of clock="):
        simclock.explore(main, clock=simclock.Clock())


def test_a_failing_schedule_is_shrunk_to_the_deviation_that_matters():
    async def main():
        value = [0]

        async def increment(extra):
            await asyncio.sleep(1.0)
            if extra:
                await asyncio.sleep(extra)  # arrives as the other's save ends
            current = value[0]
            await asyncio.sleep(0.1)
            value[0] = current + 1

        async def noise():  # tasks whose order changes nothing
            for _ in range(8):
                await asyncio.sleep(0.1)

        others = [asyncio.create_task(noise()) for _ in range(5)]
        await asyncio.gather(increment(0.0), increment(0.1), *others)
        assert value[0] == 2

    simclock.run(main())  # asyncio's own order passes
    with pytest.raises(AssertionError) as caught:
        simclock.explore(main, runs=100, seed=0)
    notes = caught.value.__notes__
    shrunk = next(note for note in notes if note.startswith("shrunk to"))
    assert shrunk.startswith("shrunk to 1 deviation from asyncio's order"), shrunk
    assert "at t=1.000s, increment() (Task-" in shrunk and "ran before increment()" in shrunk
    assert "noise()" not in shrunk


def test_a_systematic_search_tries_every_schedule_within_its_bound():
    async def safe():
        lock = asyncio.Lock()
        total = []

        async def add():
            await asyncio.sleep(1)
            async with lock:
                value = len(total)
                await asyncio.sleep(0)
                total.append(value)

        await asyncio.gather(*(add() for _ in range(4)))
        assert total == [0, 1, 2, 3]

    # Four tasks wake at t=1: asyncio's order, and each of the other three first.
    result = simclock.explore(safe, bound=1)
    assert (result.runs, result.complete) == (4, True)
    assert str(result) == "no failure within bound 1 (4 schedules)"
    cut = simclock.explore(safe, bound=1, runs=2)
    assert (cut.runs, cut.complete) == (2, False)

    async def racy():
        value = [0]

        async def increment(extra):
            await asyncio.sleep(1.0)
            if extra:
                await asyncio.sleep(extra)
            current = value[0]
            await asyncio.sleep(0.1)
            value[0] = current + 1

        await asyncio.gather(increment(0.0), increment(0.1))
        assert value[0] == 2

    simclock.explore(racy, bound=0)  # asyncio's own order passes
    with pytest.raises(AssertionError) as caught:
        simclock.explore(racy, bound=1)
    assert "found by simclock.explore(bound=1) on schedule 2, 1 deviation" in "\n".join(
        caught.value.__notes__
    )
    with pytest.raises(ValueError, match="bound must be a whole number"):
        simclock.explore(racy, bound=-1)

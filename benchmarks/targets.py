"""The targets of issues 13 and 11, each computed from one run's measurements and judged.

A target is met only when it was measured: in quick mode (tiny sizes, one
round) every target says "not measured (quick)", and one whose measurement is
missing or failed says why instead of a verdict.

Speed targets compare within a round: simclock's time over the limit's, or the
fastest correct peer's time over simclock's, and take the median of those
per-round ratios. The fastest correct peer is the peer with the lowest median
time on that workload among those that ran it without error and with every
virtual time right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from blog_replay import Replay
from contenders import Contender
from measurements import Cell, MemoryCell, median_ratio
from pytest_overhead import (
    OWN_RUNNER,
    UNDER_PYTEST_ASYNCIO,
    UNITTEST,
    UNITTEST_STOCK,
    UNMARKED,
    PytestOverhead,
    baseline_of,
)
from startup import Startup
from workloads import Sizes

__all__ = ["Measurements", "Target", "judge"]

NOT_QUICK = "not measured (quick)"


@dataclass
class Measurements:
    """Everything one run measured."""

    command: str
    sizes: Sizes
    quick: bool
    rounds_of: dict[str, int]
    contenders: list[Contender]
    blog: dict[str, list[Replay]]
    times: dict[tuple[str, str], Cell]
    parked_counts: tuple[int, ...]
    parked: dict[tuple[str, int], Cell]
    sockets: dict[str, Cell]
    memory: dict[str, MemoryCell]
    startup: dict[str, Startup] | None
    startup_problem: str | None
    pytest_overhead: PytestOverhead | None
    # Filled while the report is built: what a cell marked wrong or failed is about.
    notes: list[str] = field(default_factory=list)

    def contender(self, key: str) -> Contender | None:
        return next((c for c in self.contenders if c.key == key), None)

    def wrong_clock(self, workload: str, contender: Contender) -> str | None:
        cell = self.times.get((workload, contender.key))
        if cell is None or cell.outcome is None or not contender.checks_clock:
            return None
        return cell.outcome.problem()

    def fastest_correct_peer(self, workload: str) -> Contender | None:
        timed = []
        for contender in self.contenders:
            cell = self.times.get((workload, contender.key))
            if not contender.is_peer or cell is None or cell.error or cell.median is None:
                continue
            if self.wrong_clock(workload, contender) is None:
                timed.append((cell.median, contender.title, contender))
        return min(timed)[2] if timed else None


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    # "met", "NOT MET", or why there is no verdict.
    verdict: str


def _verdict(met: bool) -> str:
    return "met" if met else "NOT MET"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:.2f} µs"


def _speed_to_limit(m: Measurements, workload: str, goal: float) -> Target:
    name, text = f"{workload}: simclock / the limit", f"at most {goal:.2f}x"
    simclock, limit = m.times.get((workload, "simclock")), m.times.get((workload, "limit"))
    ratio = median_ratio(simclock, limit)
    if ratio is None or simclock is None or limit is None:
        return Target(name, text, "-", "not measured: a run failed")
    assert simclock.median is not None and limit.median is not None
    measured = f"{ratio:.2f}x ({_ms(simclock.median)} vs {_ms(limit.median)})"
    return Target(name, text, measured, _verdict(ratio <= goal))


def _speed_to_peers(m: Measurements, workload: str, goal: float) -> Target:
    name = f"{workload}: fastest correct peer / simclock"
    text = f"at least {goal:.1f}x"
    peer = m.fastest_correct_peer(workload)
    simclock = m.times.get((workload, "simclock"))
    if peer is None:
        ran = any(contender.is_peer for contender in m.contenders)
        why = "no peer ran correctly" if ran else "no peers (--no-peers)"
        return Target(name, text, "-", f"not measured: {why}")
    speedup = median_ratio(m.times.get((workload, peer.key)), simclock)
    if speedup is None:
        return Target(name, text, "-", "not measured: simclock's run failed")
    return Target(name, text, f"{speedup:.2f}x ({peer.title})", _verdict(speedup >= goal))


def _jump_growth(m: Measurements, goal: float) -> Target:
    first, last = m.parked_counts[0], m.parked_counts[-1]
    name = f"cost per jump, {first:,} to {last:,} tasks parked: growth"
    text = f"at most {goal:.1f}x"
    low, high = m.parked.get(("simclock", first)), m.parked.get(("simclock", last))
    growth = median_ratio(high, low)
    if growth is None or low is None or high is None:
        return Target(name, text, "-", "not measured: a run failed")
    assert low.median is not None and high.median is not None
    measured = f"{growth:.2f}x ({_us(low.median)} to {_us(high.median)})"
    return Target(name, text, measured, _verdict(growth <= goal))


def _memory(m: Measurements, goal: float) -> Target:
    name, text = "memory per sleeping task vs stock asyncio, real timers", f"at most +{goal:.0%}"
    simclock, stock = m.memory.get("simclock"), m.memory.get("plain-timers")
    if not (simclock and stock and simclock.rss_asleep and stock.rss_asleep):
        return Target(name, text, "-", "not measured: a probe failed")
    if min(simclock.rss_asleep, stock.rss_asleep) <= 0:
        return Target(name, text, "-", "not measured: below what RSS resolves")
    tasks = m.sizes.sleeping_tasks
    extra = simclock.rss_asleep / stock.rss_asleep - 1
    measured = (
        f"{extra:+.1%} ({simclock.rss_asleep / tasks:,.0f} vs "
        f"{stock.rss_asleep / tasks:,.0f} B/task)"
    )
    return Target(name, text, measured, _verdict(extra <= goal))


def startup_text(startup: Startup) -> str:
    """The overhead of `simclock run`, never printed as a negative time."""
    if startup.overhead_seconds < 0:
        return f"0 ms (simclock run was {_ms(-startup.overhead_seconds)} faster: noise)"
    return _ms(startup.overhead_seconds)


def _startup(m: Measurements, goal_seconds: float) -> Target:
    name = "`simclock run` start-up over the script's imports, no pytest"
    text = f"at most {goal_seconds * 1000:.0f} ms"
    bare = (m.startup or {}).get("without pytest")
    if bare is None:
        return Target(name, text, "-", f"not measured: {m.startup_problem or 'no venv'}")
    if bare.pytest_importable:
        return Target(name, text, startup_text(bare), "not measured: pytest was installed")
    return Target(name, text, startup_text(bare), _verdict(bare.overhead_seconds <= goal_seconds))


def _socket(m: Measurements, kind: str, title: str, goal: float) -> Target:
    name, text = f"per jump beside {title} / with no socket", f"at most {goal:.1f}x"
    ratio = median_ratio(m.sockets.get(kind), m.sockets.get("none"))
    cell = m.sockets.get(kind)
    if ratio is None or cell is None or cell.median is None:
        return Target(name, text, "-", "not measured: a run failed")
    return Target(name, text, f"{ratio:.2f}x ({_us(cell.median)})", _verdict(ratio <= goal))


def _pytest_cost(m: Measurements, variant: str, title: str, goal: float) -> Target:
    base = baseline_of(variant)
    against = "stock IsolatedAsyncioTestCase" if base == UNITTEST_STOCK else "plain pytest-asyncio"
    name = f"pytest, per test: {title} / {against}"
    text = f"at most {goal:.2f}x"
    overhead = m.pytest_overhead
    if overhead is None:
        return Target(name, text, "-", "not measured")
    ratio = overhead.ratio(variant)
    per_test = overhead.per_test_ms
    measured = f"{ratio:.2f}x ({per_test[variant]:.3f} vs {per_test[base]:.3f} ms)"
    same_work = overhead.like_for_like(variant)
    if same_work is not None:
        measured += f"; {same_work:.2f}x against a stock test that sleeps 1 ns"
    return Target(name, text, measured, _verdict(ratio <= goal))


# The issues' targets, in their order.
_TARGETS: tuple[Callable[[Measurements], Target], ...] = (
    lambda m: _speed_to_limit(m, "seq", 0.75),
    lambda m: _speed_to_peers(m, "seq", 1.7),
    lambda m: _speed_to_limit(m, "fan", 0.95),
    lambda m: _speed_to_peers(m, "fan", 1.6),
    lambda m: _jump_growth(m, 1.2),
    lambda m: _memory(m, 0.05),
    lambda m: _startup(m, 0.030),
    lambda m: _socket(m, "server", "an idle listening server", 1.5),
    lambda m: _socket(m, "pair", "a quiet connected TCP pair", 1.5),
    lambda m: _pytest_cost(m, UNMARKED, "an unmarked test, simclock installed", 1.05),
    lambda m: _pytest_cost(m, UNDER_PYTEST_ASYNCIO, "a simclock test under pytest-asyncio", 1.2),
    lambda m: _pytest_cost(m, OWN_RUNNER, "a simclock test on simclock's runner", 1.2),
    lambda m: _pytest_cost(m, UNITTEST, "an IsolatedAsyncioTestCase test under --simclock", 1.2),
)


def judge(m: Measurements) -> list[Target]:
    """Every target, met or not; in quick mode none is judged."""
    targets = [target(m) for target in _TARGETS]
    if m.quick:
        return [Target(t.name, t.goal, NOT_QUICK, NOT_QUICK) for t in targets]
    return targets

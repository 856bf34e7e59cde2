"""Real time per virtual jump: beside a crowd parked on far deadlines, and beside idle sockets.

Parked: one task makes `jumps` sequential `sleep(1)` while N other tasks sleep
until a far deadline (1e9 s) the whole time. A loop whose jump costs grow with
the number of sleepers (a heap deeper by log N, a scan of every timer) shows it
here as growth = cost(N = 100,000) / cost(N = 0), the median of per-round ratios.
Each contender runs each round in a fresh process (`jump_cost.py CONTENDER`).

Sockets (simclock only): the same jumps with nothing open, beside an idle
listening server, and beside a quiet connected TCP pair (connection open,
nothing sent either way). Nobody outside is expected to answer an idle socket,
so a jump should cost little more than without one: one poll, no grace.

The timer is simclock's `real_perf_counter`, real whatever clock is bound,
read inside the run so loop creation and the parking itself are left out. The
collector is off during each run, as in the other timings.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import subprocess
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from contenders import Contender, load_one
from measurements import Cell, log, rotated
from workloads import Outcome, Pace

try:
    from simclock.process.bindings import real_perf_counter
except ImportError:  # a commit before simclock.bindings, measured with --simclock-commit
    from simclock.wallclock import real_perf_counter  # type: ignore[import-not-found,no-redef]

__all__ = [
    "JUMP_CONTENDERS",
    "PARKED_FULL",
    "PARKED_QUICK",
    "SOCKET_KINDS",
    "measure_parked",
    "measure_sockets",
]

PARKED_FULL = (0, 1_000, 10_000, 100_000)
PARKED_QUICK = (0, 100)
JUMPS_FULL = 20_000
JUMPS_QUICK = 200
FAR_DEADLINE = 1e9
# The asyncio contenders measured here; looptime's defaults would take a minute a round.
JUMP_CONTENDERS = ("limit", "simclock", "solipsism", "aiotools", "looptime-noop0")

SOCKET_KINDS = {
    "none": "no socket",
    "server": "an idle listening server",
    "pair": "a quiet connected TCP pair",
}
# A loop that waited for a socket at every jump would take hours over 20,000 jumps:
# a trial run of this many jumps decides how many the measured runs make.
SOCKET_TRIAL_JUMPS = 100
SLOW_JUMP_SECONDS = 1e-3


@dataclass(frozen=True)
class JumpOutcome(Outcome):
    """An outcome that also says what each jump cost in real time."""

    seconds_per_jump: float = 0.0


async def _timed_jumps(jumps: int, pace: Pace) -> JumpOutcome:
    loop = asyncio.get_running_loop()
    sleep, delay = pace.sleep(), 1.0 * pace.scale
    start, began = loop.time(), real_perf_counter()
    if pace.resolve_now:
        for _ in range(jumps):
            # The limit's step, inline, as in the speed targets: see `Pace.resolve_now`.
            future = loop.create_future()
            loop.call_at(loop.time(), future.set_result, None)
            await future
    else:
        for _ in range(jumps):
            await sleep(delay)
    took = real_perf_counter() - began
    elapsed = loop.time() - start
    return JumpOutcome(elapsed, jumps * delay, abs(elapsed - jumps * delay), None, took / jumps)


def _run(contender: Contender, main: Coroutine[Any, Any, Outcome]) -> JumpOutcome:
    gc.collect()
    gc.disable()
    try:
        outcome = contender.run_coroutine(main)
    finally:
        gc.enable()
    assert isinstance(outcome, JumpOutcome)
    return outcome


async def _jumps_while_parked(parked: int, jumps: int, pace: Pace) -> JumpOutcome:
    asleep = [0]

    async def sleep_far() -> None:
        asleep[0] += 1
        await asyncio.sleep(FAR_DEADLINE)

    sleepers = [asyncio.create_task(sleep_far()) for _ in range(parked)]
    while asleep[0] < parked:
        await asyncio.sleep(0)
    outcome = await _timed_jumps(jumps, pace)
    for sleeper in sleepers:
        sleeper.cancel()
    await asyncio.gather(*sleepers, return_exceptions=True)
    return outcome


def measure_parked(
    contenders: list[Contender], counts: tuple[int, ...], rounds: int, quick: bool
) -> dict[tuple[str, int], Cell]:
    """Per-jump seconds by (contender, parked count): a fresh process per contender a round.

    Within its process a contender runs the counts in increasing order, after one
    untimed warm-up, so no count pays for the freed-but-kept memory of a bigger
    one before it, nor for whatever workload ran before in this process.
    """
    chosen = [c for c in contenders if c.key in JUMP_CONTENDERS and c.unavailable is None]
    cells = {(c.key, count): Cell() for c in chosen for count in counts}
    for round_index in range(rounds):
        log(f"jump cost beside parked tasks: round {round_index + 1}/{rounds}")
        for contender in rotated(chosen, round_index):
            for count, result in _probe(contender.key, counts, quick).items():
                cell = cells[contender.key, count]
                if isinstance(result, str):
                    cell.error = cell.error or result
                elif cell.error is None:
                    cell.record(round_index, result.seconds_per_jump, result)
    return cells


def _probe(key: str, counts: tuple[int, ...], quick: bool) -> dict[int, JumpOutcome | str]:
    """Run `jump_cost.py KEY` for every count; a count's error message where it failed."""
    command = [sys.executable, __file__, key, "--counts", ",".join(map(str, counts))]
    result = subprocess.run(
        [*command, "--quick"] if quick else command, capture_output=True, text=True, check=False
    )
    found: dict[int, JumpOutcome | str] = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            report = json.loads(line)
            count = int(report.pop("count"))
            found[count] = report["error"] if "error" in report else JumpOutcome(**report)
    tail = " / ".join(result.stderr.strip().splitlines()[-2:])
    for count in counts:
        found.setdefault(count, f"probe exited {result.returncode}: {tail}")
    return found


def _measure_in_this_process(key: str, counts: list[int], quick: bool) -> None:
    """Print one JSON line per count: its JumpOutcome's fields, or an error."""
    contender = load_one(key)
    jumps = JUMPS_QUICK if quick else JUMPS_FULL
    contender.run_coroutine(_jumps_while_parked(0, JUMPS_QUICK, contender.pace))
    for count in sorted(counts):
        try:
            outcome = _run(contender, _jumps_while_parked(count, jumps, contender.pace))
            report: dict[str, object] = {"count": count, **dataclasses.asdict(outcome)}
        except Exception as error:  # noqa: BLE001 - reported in the table
            report = {"count": count, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(report), flush=True)


async def _jumps_beside_socket(kind: str, jumps: int) -> JumpOutcome:
    if kind == "none":
        return await _timed_jumps(jumps, Pace())
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[asyncio.StreamWriter] = loop.create_future()

    def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not accepted.done():
            accepted.set_result(writer)

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    writers: list[asyncio.StreamWriter] = []
    if kind == "pair":
        port = server.sockets[0].getsockname()[1]
        _, client = await asyncio.open_connection("127.0.0.1", port)
        writers = [client, await accepted]
    outcome = await _timed_jumps(jumps, Pace())
    for writer in writers:
        writer.close()
    server.close()
    await server.wait_closed()
    return outcome


def measure_sockets(simclock: Contender, rounds: int, quick: bool) -> dict[str, Cell]:
    """Per-jump seconds by socket kind on simclock, every kind once a round."""
    cells = {kind: Cell() for kind in SOCKET_KINDS}
    jumps_of: dict[str, int] = {}
    for kind in SOCKET_KINDS:
        trial = _run(simclock, _jumps_beside_socket(kind, SOCKET_TRIAL_JUMPS))
        slow = quick or trial.seconds_per_jump > SLOW_JUMP_SECONDS
        jumps_of[kind] = SOCKET_TRIAL_JUMPS if slow else JUMPS_FULL
    for round_index in range(rounds):
        log(f"jump cost beside idle sockets: round {round_index + 1}/{rounds}")
        for kind in rotated(list(SOCKET_KINDS), round_index):
            cell = cells[kind]
            if cell.error is not None:
                continue
            try:
                outcome = _run(simclock, _jumps_beside_socket(kind, jumps_of[kind]))
            except Exception as error:  # noqa: BLE001 - reported in the table
                cell.error = f"{type(error).__name__}: {error}"
                continue
            cell.record(round_index, outcome.seconds_per_jump, outcome)
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description="One round of jump costs, for measure_parked.")
    parser.add_argument("contender")
    parser.add_argument("--counts", required=True, help="parked counts, comma-separated")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    _measure_in_this_process(args.contender, [int(n) for n in args.counts.split(",")], args.quick)


if __name__ == "__main__":
    main()

"""What the whole process reads and does while a clock is bound.

`bindings` puts the process clocks on a clock (`clockswap` swaps the C
functions behind them); `loops` makes asyncio's default loops virtual;
`children` and `probe` watch child processes and threads; `prints` records
what the program prints.
"""

from simclock.process.bindings import bound, current_clock

__all__ = ["bound", "current_clock"]

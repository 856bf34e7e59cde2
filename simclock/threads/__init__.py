"""Threads that work for a run: which they are, and how their waits become virtual.

`work` keeps each loop's workers and their virtual waits; `hooks` finds them
by hooking `threading` and thread pools while a clock is bound.
"""

from simclock.threads.work import external_work

__all__ = ["external_work"]

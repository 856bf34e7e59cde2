"""The virtual event loop, and `simclock.run` on it.

This package is also where the hooks on threading and subprocess are
registered with the bindings: from here on, binding a clock installs them.
"""

from simclock.loop.loop import VirtualEventLoop, background, background_tasks, new_event_loop
from simclock.loop.runner import run
from simclock.process import bindings, children, foreign, natives
from simclock.process.loops import virtual_loops
from simclock.threads import bubble, hooks


def _a_loop_of_the_bubble() -> VirtualEventLoop | None:
    """A loop asyncio makes on a thread that lives on the bound clock joins its bubble.

    A worker that runs `asyncio.run()` (asgiref's `async_to_sync` in a
    `to_thread`, a portal started from a test) gets a loop on the run's clock,
    so its sleeps are skipped as the run's are. Threads on real time get the
    loop they would have got.
    """
    view = bindings.current_view()
    if view is None or view.retired:
        return None
    return new_event_loop()


# Entered at each bind and left at its release: one binding at a time, never nested.
_adopting = virtual_loops(_a_loop_of_the_bubble)


def _nothing() -> None:
    pass


def _adopt_loops() -> None:
    _adopting.__enter__()


def _stop_adopting() -> None:
    _adopting.__exit__(None, None, None)


bindings.while_bound(_adopt_loops, _stop_adopting)
bindings.while_bound(hooks.install, hooks.uninstall, stays=True)
bindings.while_bound(children.POPEN.install, children.POPEN.uninstall, stays=True)
# Not left on: `os.fork` is no class's attribute, and its warning in a process
# with threads names the caller, which a hook would be.
bindings.while_bound(children.FORK.install, children.FORK.uninstall)
bindings.while_bound(_nothing, children.forget)
bindings.while_bound(foreign.STOCK_LOOPS.install, foreign.STOCK_LOOPS.uninstall, stays=True)
bindings.while_bound(foreign.install, foreign.uninstall, stays=True)
bindings.while_bound(natives.install, natives.uninstall)
bindings.sleep_for_real_while(children.a_child_runs)
bindings.sleep_in_a_crowd(bubble.crowded_sleep)

__all__ = ["VirtualEventLoop", "background", "background_tasks", "new_event_loop", "run"]

"""The virtual event loop, and `simclock.run` on it.

This package is also where the hooks on threading and subprocess are
registered with the bindings: from here on, binding a clock installs them.
"""

from simclock.loop.loop import VirtualEventLoop, background, background_tasks, new_event_loop
from simclock.loop.runner import run
from simclock.process import bindings, children, foreign
from simclock.threads import bubble, hooks

bindings.while_bound(hooks.install, hooks.uninstall)
bindings.while_bound(children.install, children.uninstall)
bindings.while_bound(foreign.install, foreign.uninstall)
bindings.sleep_for_real_while(children.a_child_runs)
bindings.sleep_in_a_crowd(bubble.crowded_sleep)

__all__ = ["VirtualEventLoop", "background", "background_tasks", "new_event_loop", "run"]

"""Hooks on attributes of classes and modules, that may stay on between bindings.

A `Patch` puts a hook on one attribute (`threading.Thread.start`,
`subprocess.Popen.wait`), over whatever is there as it is installed: a
wrapper another tool put there first is called beneath. The hook acts only
while a clock is bound; otherwise it calls what it covers and nothing else, so
it can be left installed after a release (see `bindings.hooks_stay`).

Assigning to a class's attribute makes CPython drop what it had specialized
for that class and its subclasses: a hook put on and taken off at every bind
made every test run its loop unspecialized. Left on, it costs nothing more.

A hook left on may be wrapped by another tool meanwhile (a tracer that wraps
`Thread.start` in a test), and then covered by a new hook at the next bind:
each hook calls the function it was made over, so the chain always ends, and
only the outermost of a patch's hooks in a call acts (the inner ones pass the
call on), so a thread is never enlisted twice.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

from simclock.process import bindings

__all__ = ["Patch"]


class Patch:
    """A hook on `owner.name` that runs `act(beneath, *args, **kwargs)` while a clock is bound.

    `beneath` is what the attribute held as the hook was put on. With
    `reentrant=True`, a hook reached from inside another of this patch's hooks
    on the same thread acts again (its action nests harmlessly, as a real-time
    view does); otherwise it only passes the call on. With
    `only_while_bound=False`, `act` runs whether a clock is bound or not, and
    must itself pass the call on when it has nothing to do.
    """

    __slots__ = (
        "_act",
        "_beneath",
        "_hook",
        "_hooks",
        "_inside",
        "_name",
        "_only_while_bound",
        "_owner",
        "_reentrant",
    )

    def __init__(
        self,
        owner: object,
        name: str,
        act: Callable[..., Any],
        *,
        reentrant: bool = False,
        only_while_bound: bool = True,
    ) -> None:
        self._owner = owner
        self._name = name
        self._act = act
        self._reentrant = reentrant
        self._only_while_bound = only_while_bound
        self._inside = threading.local()
        # The hook made over each function it covered, made once: a clock is bound for every test.
        self._hooks: dict[Callable[..., Any], Callable[..., Any]] = {}
        self._hook: Callable[..., Any] | None = None  # the hook this patch put on last
        self._beneath: Callable[..., Any] | None = None  # what that hook covers

    @property
    def original(self) -> Callable[..., Any]:
        """What the attribute holds with this patch off: what its newest hook covers."""
        if self._hook is not None and getattr(self._owner, self._name) is self._hook:
            assert self._beneath is not None
            return self._beneath
        current: Callable[..., Any] = getattr(self._owner, self._name)
        return current

    def install(self) -> None:
        """Put the hook on, unless one of this patch's hooks is already on top."""
        current = getattr(self._owner, self._name)
        if getattr(current, "__simclock_patch__", None) is self:
            return
        hook = self._hooks.get(current)
        if hook is None:
            hook = self._hooks[current] = self._make(current)
        setattr(self._owner, self._name, hook)
        self._hook, self._beneath = hook, current

    def uninstall(self) -> None:
        """Take the hook off, putting back what it covers, unless another tool's is on top now.

        A wrapper put on over the hook calls it beneath: taking the hook off
        would take that wrapper off too. Left there, the hook passes every
        call on while no clock is bound.
        """
        if self._hook is not None and getattr(self._owner, self._name) is self._hook:
            setattr(self._owner, self._name, self._beneath)
        self._hook = self._beneath = None

    def _make(self, beneath: Callable[..., Any]) -> Callable[..., Any]:
        act, inside, reentrant = self._act, self._inside, self._reentrant
        current_clock = bindings.current_clock

        if not self._only_while_bound:

            def hook(*args: Any, **kwargs: Any) -> Any:
                return act(beneath, *args, **kwargs)

        elif reentrant:

            def hook(*args: Any, **kwargs: Any) -> Any:
                if current_clock() is None:
                    return beneath(*args, **kwargs)
                return act(beneath, *args, **kwargs)

        else:

            def hook(*args: Any, **kwargs: Any) -> Any:
                if current_clock() is None or getattr(inside, "acting", False):
                    return beneath(*args, **kwargs)
                inside.acting = True
                try:
                    return act(beneath, *args, **kwargs)
                finally:
                    inside.acting = False

        # It passes for what it covers: `inspect.signature`, a name in a report.
        functools.update_wrapper(hook, beneath)
        hook.__simclock_patch__ = self  # type: ignore[attr-defined]
        return hook

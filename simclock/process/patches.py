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
only the outermost of a patch's hooks in a call on one object acts (the inner
ones pass it on), so a thread is never enlisted twice.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any

from simclock.process import bindings

__all__ = ["Patch", "Patches"]


class Patch:
    """A hook on `owner.name` that runs `act(beneath, *args, **kwargs)` while a clock is bound.

    `beneath` is what the attribute held as the hook was put on. A hook
    reached, on the same thread, from inside another of this patch's hooks
    acting on the same object (a wrapper beneath the newest hook that calls
    an older one) only passes the call on, while a new call the wrapper makes
    reaches the newest hook and is acted on; with `reentrant=True` it acts
    again (its action nests harmlessly, as a real-time view does). With
    `only_while_bound=False`, `act` runs whether a clock is bound or not, and
    must itself pass the call on when it has nothing to do.
    """

    __slots__ = (
        "_act",
        "_beneath",
        "_hook",
        "_inside",
        "_last_made",
        "_made",
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
        # Every hook this patch made that still exists, by id, and what each covers.
        self._made: weakref.WeakValueDictionary[int, Callable[..., Any]] = (
            weakref.WeakValueDictionary()
        )
        # The newest hook made, reused while it covers the same function: a
        # clock is bound for every test. Only one is kept: a fixture that wraps
        # the attribute afresh for each test must not pile up its wrappers here.
        self._last_made: tuple[Callable[..., Any], Callable[..., Any]] | None = None
        self._hook: Callable[..., Any] | None = None  # the hook this patch put on last
        self._beneath: Callable[..., Any] | None = None  # what that hook covers

    @property
    def owner(self) -> object:
        """The class or module whose attribute this patch hooks."""
        return self._owner

    def _own(self, candidate: object) -> bool:
        """Whether `candidate` is one of this patch's hooks, by identity: a proxy passes for one."""
        return self._made.get(id(candidate)) is candidate

    def install(self) -> None:
        """Put the hook on, unless one of this patch's hooks is on top already."""
        current = getattr(self._owner, self._name)
        if current is self._hook:
            return  # left on since the last bind (`bindings.hooks_stay`): what it covers is known
        if self._own(current):
            self._hook, self._beneath = current, current.__wrapped__
            return
        last = self._last_made
        if last is not None and last[0] is current:
            hook = last[1]
        else:
            hook = self._make(current)
            self._made[id(hook)] = hook
            self._last_made = (current, hook)
        setattr(self._owner, self._name, hook)
        self._hook, self._beneath = hook, current

    def uninstall(self) -> None:
        """Take the hook off, putting back what it covers, unless another tool's is on top now.

        A wrapper put on over the hook calls it beneath: taking the hook off
        would take that wrapper off too. Left there, the hook passes every
        call on while no clock is bound.
        """
        current = getattr(self._owner, self._name)
        if current is self._hook:
            setattr(self._owner, self._name, self._beneath)
        elif self._own(current):  # an older hook, put back by a wrapper that came off
            setattr(self._owner, self._name, current.__wrapped__)
        self._hook = self._beneath = None

    def _make(self, beneath: Callable[..., Any]) -> Callable[..., Any]:
        act, inside = self._act, self._inside
        current_clock = bindings.current_clock

        if not self._only_while_bound:

            def hook(*args: Any, **kwargs: Any) -> Any:
                return act(beneath, *args, **kwargs)

        elif self._reentrant:

            def hook(*args: Any, **kwargs: Any) -> Any:
                if current_clock() is None:
                    return beneath(*args, **kwargs)
                return act(beneath, *args, **kwargs)

        else:

            def hook(*args: Any, **kwargs: Any) -> Any:
                if current_clock() is None:
                    return beneath(*args, **kwargs)
                subject = args[0] if args else None
                acting: list[tuple[object, object]] | None = getattr(inside, "acting", None)
                if acting is None:
                    acting = inside.acting = []
                for other_hook, other in acting:
                    # Another of this patch's hooks acts on the same object: this
                    # one lies beneath it, on the same call (a wrapper between them).
                    if other is subject and other_hook is not hook:
                        return beneath(*args, **kwargs)
                acting.append((hook, subject))
                try:
                    return act(beneath, *args, **kwargs)
                finally:
                    acting.pop()

        # It passes for what it covers: `inspect.signature`, a name in a report;
        # `__wrapped__` is what it covers.
        functools.update_wrapper(hook, beneath)
        return hook


class Patches:
    """Patches put on and taken off together (`while_bound(group.install, group.uninstall)`)."""

    __slots__ = ("_patches",)

    def __init__(self, *patches: Patch) -> None:
        self._patches = patches

    def install(self) -> None:
        for patch in self._patches:
            # Left on since the last bind (`bindings.hooks_stay`): nothing to do,
            # and no call to find that out, at every bind of a session.
            if getattr(patch._owner, patch._name) is not patch._hook:
                patch.install()

    def uninstall(self) -> None:
        for patch in self._patches:
            patch.uninstall()

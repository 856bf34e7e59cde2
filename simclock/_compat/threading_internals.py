"""Every assumption simclock makes about `threading`'s and thread pools' private state.

simclock makes a worker's `Condition.wait` virtual by running the condition's
own wait protocol around a lock of its own, so it needs that protocol's parts:
the waiter queue, and releasing and restoring the condition's lock whatever
kind it is. `tests/test_compat.py` pins each on every supported Python.
"""

from __future__ import annotations

import concurrent.futures.thread
import threading
from collections.abc import Callable
from typing import Any

__all__ = [
    "POOL_THREAD_TARGET",
    "acquire_restore",
    "allocate_lock",
    "is_owned",
    "release_save",
    "thread_has_started",
    "waiters",
]

#: A plain lock, as `threading` makes its waiters: the C lock, no Python frame.
allocate_lock: Callable[[], Any] = threading._allocate_lock  # type: ignore[attr-defined]

#: The function a `ThreadPoolExecutor`'s own threads run.
POOL_THREAD_TARGET: object = getattr(concurrent.futures.thread, "_worker", None)


def waiters(condition: threading.Condition) -> Any:
    """The condition's queue of waiter locks, which `notify` releases in order."""
    return condition._waiters  # type: ignore[attr-defined]


def is_owned(condition: threading.Condition) -> bool:
    """Whether the calling thread holds the condition's lock."""
    return bool(condition._is_owned())  # type: ignore[attr-defined]


def release_save(condition: threading.Condition) -> Any:
    """Release the condition's lock fully (an RLock at any depth); returns how to restore it."""
    return condition._release_save()  # type: ignore[attr-defined]


def acquire_restore(condition: threading.Condition, state: Any) -> None:
    """Take the condition's lock back as `release_save` found it."""
    condition._acquire_restore(state)  # type: ignore[attr-defined]


def thread_has_started(thread: threading.Thread) -> bool:
    """Whether `thread`'s bootstrap has said it started (its ident and native id are set then).

    `is_alive()` is False both before that and once it has ended.
    """
    return bool(thread._started.is_set())  # type: ignore[attr-defined]

"""Small asyncio race programs for `benchmarks/races.py`.

Every module is plain asyncio, in one shape, so each tool can drive it its own way:

- `KIND`: the bug class (`tie`, `drift`, `await`, `lock`, `wakeup`, `cancel`,
  `check-act`, `timeout`), or `decoy` for a program that looks racy but is correct;
- `setup()`: fresh shared state;
- `WORKERS`: coroutine functions, each taking the state, run concurrently;
- `check(state)`: raises AssertionError when the race bit;
- `main()`: the whole program as asyncio would run it: the workers gathered, then the check.

A bug program passes under stock asyncio's own order (`asyncio.run(main())`) and fails
(AssertionError, or a deadlock) only under some other legal interleaving, which its
docstring names. A decoy must pass under every one.
"""

import importlib
import pkgutil
from types import ModuleType

__all__ = ["programs"]


def programs() -> list[ModuleType]:
    """Every race program, in name order."""
    names = sorted(info.name for info in pkgutil.iter_modules(__path__) if info.name[0] != "_")
    return [importlib.import_module(f"{__name__}.{name}") for name in names]

import asyncio
import time

import pytest

REAL_CLOCKS = {name: getattr(time, name) for name in ("time", "monotonic", "perf_counter", "sleep")}


@pytest.fixture(autouse=True)
def _real_clocks_are_back_after_each_test():
    """Every test must leave the process clocks and the loop policy as it found them."""
    policy = asyncio.get_event_loop_policy()
    yield
    for name, function in REAL_CLOCKS.items():
        assert getattr(time, name) is function, f"time.{name} leaked out of the test"
    assert asyncio.get_event_loop_policy() is policy, "the event loop policy leaked"


pytest_plugins = ["pytester"]

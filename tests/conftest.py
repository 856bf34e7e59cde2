import asyncio
import time

import pytest

REAL_CLOCKS = {name: getattr(time, name) for name in ("time", "monotonic", "perf_counter", "sleep")}
REAL_FACTORIES = (asyncio.new_event_loop, asyncio.events.new_event_loop)


@pytest.fixture(autouse=True)
def _real_clocks_are_back_after_each_test():
    """Every test must leave the process clocks and asyncio's loop factories as it found them."""
    yield
    for name, function in REAL_CLOCKS.items():
        assert getattr(time, name) is function, f"time.{name} leaked out of the test"
    real_now = time.monotonic()
    time.sleep(0.001)
    assert time.monotonic() > real_now, "time.monotonic() leaked out of the test"
    assert (asyncio.new_event_loop, asyncio.events.new_event_loop) == REAL_FACTORIES, (
        "asyncio's loop factory leaked"
    )


pytest_plugins = ["pytester"]

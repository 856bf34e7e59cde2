"""simclock in test runners: the pytest plugin and a unittest base class."""

from simclock.testing.testcase import VirtualClockTestCase

__all__ = ["VirtualClockTestCase"]

"""Kept so that `simclock.pytest_plugin` keeps its names; the plugin is `simclock.testing`'s."""

from simclock.testing.pytest_plugin import (
    ClockFixture,
    SimclockLeftoverTasksWarning,
    SimclockOverrideWarning,
)

__all__ = ["ClockFixture", "SimclockLeftoverTasksWarning", "SimclockOverrideWarning"]

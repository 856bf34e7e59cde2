"""Conformance runs: other projects' test suites with simclock as the event loop."""

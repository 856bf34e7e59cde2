"""`simclock run`, `compare` and `check`: whole scripts replayed on a virtual clock."""

from simclock.replay.script import ScriptError, ScriptRun, replay_script

__all__ = ["ScriptError", "ScriptRun", "replay_script"]

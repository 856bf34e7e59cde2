"""The blog's lessons in `examples/teaching/` run with the project's own tests.

They live beside the examples so a teacher finds them there; this module
brings them into the `tests` run (pyproject's testpaths) under their own names.
"""

import importlib.util
from pathlib import Path

_LESSONS = Path(__file__).resolve().parent.parent / "examples" / "teaching" / "test_blog_lessons.py"
_spec = importlib.util.spec_from_file_location("simclock_teaching_lessons", _LESSONS)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

globals().update({name: test for name, test in vars(_module).items() if name.startswith("test_")})

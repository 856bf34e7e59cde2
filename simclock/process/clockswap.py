"""Swap the C function behind a builtin of the `time` module, for every reference to it.

`from time import monotonic` at a module's top, or a default argument such as
`TTLCache(timer=time.monotonic)`, holds the builtin function object itself,
so replacing the module attribute does not reach it. Every such reference
shares one C method definition (`PyMethodDef`), though, and its `ml_meth`
pointer is what a call runs. Pointing it at a ctypes callback makes every
holder of the builtin call simclock's Python function instead; pointing it
back restores the real clock for everyone, whoever kept a reference. This is
the mechanism time-machine uses for `time.time`, done here with `ctypes` so
that simclock stays a pure-Python package.

Two limits follow from ctypes callbacks, and the bindings are shaped around
them:

- A callback cannot raise: an exception is reported as unraisable and the
  caller gets a `SystemError`. Only functions that cannot fail (`monotonic`,
  `perf_counter` and their `_ns` forms) rely on the swap alone. `time.sleep`
  is also replaced as a module attribute, so a direct `time.sleep(-1)` still
  raises `ValueError`; only a reference to `sleep` taken before the run and
  called with a bad argument during it gets the `SystemError`.
- It works on CPython, whose object layout it reads. Anywhere else, or if the
  layout is not what it expects, `SwapUnsupported` says so at import.

Each swapped builtin also gets a *twin*: a new builtin function object built
from a private copy of the method definition, which keeps the original
pointer and so always runs the real C function, at the real function's cost.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["SwapUnsupported", "SwappableBuiltin"]

_METH_NOARGS = 0x0004
_METH_O = 0x0008


class SwapUnsupported(RuntimeError):
    """This interpreter does not let simclock reach references bound before a run."""


class _MethodDef(ctypes.Structure):
    _fields_ = (
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    )


class _BuiltinFunction(ctypes.Structure):
    # PyCFunctionObject, the same on CPython 3.11 to 3.14 (non-debug builds).
    _fields_ = (
        ("ob_refcnt", ctypes.c_ssize_t),
        ("ob_type", ctypes.c_void_p),
        ("m_ml", ctypes.POINTER(_MethodDef)),
        ("m_self", ctypes.c_void_p),
    )


_CALLBACK_TYPES = {
    _METH_NOARGS: ctypes.CFUNCTYPE(ctypes.py_object, ctypes.py_object, ctypes.c_void_p),
    _METH_O: ctypes.CFUNCTYPE(ctypes.py_object, ctypes.py_object, ctypes.py_object),
}

if sys.implementation.name == "cpython":
    _new_builtin = ctypes.pythonapi.PyCFunction_NewEx
    _new_builtin.restype = ctypes.py_object
    _new_builtin.argtypes = (ctypes.c_void_p, ctypes.py_object, ctypes.py_object)


class SwappableBuiltin:
    """One builtin whose C function can be pointed at a Python function and back.

    `real` is the twin that always runs the original C function. `swap(f)`
    makes every reference to the builtin call `f` (with the builtin's own
    arguments: none, or the one argument); `restore()` undoes it. Both are
    idempotent and cheap (one pointer write), so a binding can flip them on
    every run.
    """

    def __init__(self, builtin: Callable[..., Any], replacement: Callable[..., Any]) -> None:
        if sys.implementation.name != "cpython":
            raise SwapUnsupported(
                f"simclock reaches pre-bound clock functions through CPython's object "
                f"layout; {sys.implementation.name} is not CPython"
            )
        name = getattr(builtin, "__name__", "?")
        if type(builtin).__name__ != "builtin_function_or_method":
            raise SwapUnsupported(f"time.{name} is {builtin!r}, not the builtin simclock expects")
        function = _BuiltinFunction.from_address(id(builtin))
        method = function.m_ml.contents
        flags = method.ml_flags & (_METH_NOARGS | _METH_O)
        if method.ml_name != name.encode() or flags not in _CALLBACK_TYPES:
            raise SwapUnsupported(
                f"the C definition behind time.{name} is not laid out as simclock expects "
                "(a CPython build with a different object layout?)"
            )
        self._method = method
        self._original = method.ml_meth
        # The twin's definition must outlive the twin: keep it on self.
        self._twin_method = _MethodDef(
            method.ml_name, method.ml_meth, method.ml_flags, method.ml_doc
        )
        owner = ctypes.cast(function.m_self, ctypes.py_object).value
        self.real: Callable[..., Any] = _new_builtin(
            ctypes.addressof(self._twin_method), owner, None
        )
        # The callback must live as long as any thread might be inside it:
        # made once, never freed.
        if flags == _METH_NOARGS:
            self._callback = _CALLBACK_TYPES[flags](lambda _module, _null: replacement())
        else:
            self._callback = _CALLBACK_TYPES[flags](lambda _module, arg: replacement(arg))
        self._swapped = ctypes.cast(self._callback, ctypes.c_void_p).value

    def swap(self) -> None:
        """Make every reference to the builtin call the replacement."""
        self._method.ml_meth = self._swapped

    def restore(self) -> None:
        """Make every reference to the builtin run its real C function again."""
        self._method.ml_meth = self._original

    @property
    def swapped(self) -> bool:
        return bool(self._method.ml_meth == self._swapped)

"""Swap the function behind a builtin of the `time` module, for every reference to it.

`from time import monotonic` at a module's top, or a default argument such as
`TTLCache(timer=time.monotonic)`, holds the builtin function object itself,
so replacing the module attribute does not reach it. A call of that object
runs `ml_meth(m_self, ...)`: the C function of its method definition
(`PyMethodDef`, shared by every reference), given the object's `m_self`.

A swap points both at CPython's own calling functions: `ml_meth` becomes
`PyObject_CallNoArgs` (for `monotonic`, `perf_counter` and their `_ns` forms)
or `PyObject_CallOneArg` (for `sleep`), and `m_self` becomes simclock's
Python replacement. A call of the builtin is then a plain call of the
replacement, made by the interpreter itself: whatever the replacement raises
(a `ValueError` for `sleep(-1)`, a `RecursionError`, a `KeyboardInterrupt`
from a signal handler, `MemoryError`) propagates to the caller exactly as the
real function's errors do. No ctypes callback is involved, so nothing can hand
the interpreter an unset result. Restoring writes both pointers back.

The layout is read from the running interpreter: the object header's size
(`object.__basicsize__`, larger on free-threaded builds), then `m_ml` and
`m_self`, checked against what they must hold (the definition's name, the
`time` module) before anything is written. Where the check fails, or on an
interpreter other than CPython, `SwapUnsupported` says so at import and the
bindings fall back to module attributes only.

Each swapped builtin also gets a *twin*: a new builtin function object built
from a private copy of the method definition, which keeps the original
pointers and so always runs the real C function, at the real function's cost.

The builtin is found beneath a Python wrapper another tool may have put on
the module attribute first (one made with `functools.wraps`, or a closure
holding it), so that importing simclock after such a tool works, and the
wrapper goes on working, on top of the virtual clock.
"""

from __future__ import annotations

import ctypes
import sys
import types
from collections.abc import Callable
from typing import Any

__all__ = ["SwapUnsupported", "SwappableBuiltin", "builtin_beneath"]

_METH_NOARGS = 0x0004
_METH_O = 0x0008
_POINTER = ctypes.sizeof(ctypes.c_void_p)


class SwapUnsupported(RuntimeError):
    """This interpreter does not let simclock reach references bound before a run."""


class _MethodDef(ctypes.Structure):
    _fields_ = (
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    )


def _function_layout() -> type[ctypes.Structure]:
    """`PyCFunctionObject`'s first fields, after a header of this interpreter's size."""
    header = object.__basicsize__
    if header % _POINTER:
        raise SwapUnsupported(f"an object header of {header} bytes is not pointer-aligned")

    class _BuiltinFunction(ctypes.Structure):
        _fields_ = (
            ("header", ctypes.c_byte * header),
            ("m_ml", ctypes.POINTER(_MethodDef)),
            ("m_self", ctypes.c_void_p),
        )

    return _BuiltinFunction


def _calling_function(name: str) -> int:
    function = getattr(ctypes.pythonapi, name, None)
    if function is None:
        raise SwapUnsupported(f"this interpreter does not export {name}")
    address = ctypes.cast(function, ctypes.c_void_p).value
    assert address is not None
    return address


if sys.implementation.name == "cpython":
    _new_builtin = ctypes.pythonapi.PyCFunction_NewEx
    _new_builtin.restype = ctypes.py_object
    _new_builtin.argtypes = (ctypes.c_void_p, ctypes.py_object, ctypes.py_object)


def builtin_beneath(found: object, name: str, module: types.ModuleType) -> Any:
    """The builtin `module.name` beneath `found` and any wrappers around it, or None."""
    seen: set[int] = set()
    todo = [found]
    while todo:
        candidate = todo.pop()
        if id(candidate) in seen:
            continue
        seen.add(id(candidate))
        if (
            type(candidate).__name__ == "builtin_function_or_method"
            and getattr(candidate, "__name__", None) == name
            and getattr(candidate, "__self__", None) is module
        ):
            return candidate
        wrapped = getattr(candidate, "__wrapped__", None)
        if wrapped is not None:
            todo.append(wrapped)
        function = getattr(candidate, "__func__", candidate)
        for cell in getattr(function, "__closure__", None) or ():
            try:
                todo.append(cell.cell_contents)
            except ValueError:  # an empty cell
                continue
    return None


class SwappableBuiltin:
    """One builtin whose calls can be pointed at a Python function and back.

    `real` is the twin that always runs the original C function. `swap()`
    makes every reference to the builtin call the replacement (with the
    builtin's own arguments: none, or the one argument); `restore()` undoes
    it. Both are idempotent and cheap (two pointer writes), so a binding can
    flip them on every run.
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
        function = _function_layout().from_address(id(builtin))
        owner = getattr(builtin, "__self__", None)
        method = function.m_ml.contents
        flags = method.ml_flags & (_METH_NOARGS | _METH_O)
        if (
            owner is None
            or function.m_self != id(owner)
            or method.ml_name != name.encode()
            or flags not in (_METH_NOARGS, _METH_O)
        ):
            raise SwapUnsupported(
                f"the C definition behind time.{name} is not laid out as simclock expects "
                "(a CPython build with a different object layout?)"
            )
        self._function = function
        self._method = method
        self._original = (method.ml_meth, function.m_self)
        # Kept for good: a thread may be inside a call of it at any time.
        self._replacement = replacement
        calling = "PyObject_CallNoArgs" if flags == _METH_NOARGS else "PyObject_CallOneArg"
        self._swapped = (_calling_function(calling), id(replacement))
        # The twin's definition must outlive the twin: keep it on self.
        self._twin_method = _MethodDef(
            method.ml_name, method.ml_meth, method.ml_flags, method.ml_doc
        )
        self.real: Callable[..., Any] = _new_builtin(
            ctypes.addressof(self._twin_method), owner, None
        )

    def swap(self) -> None:
        """Make every reference to the builtin call the replacement."""
        meth, owner = self._swapped
        # m_self first: the real C functions of `time` never read it, so a call
        # between the two writes still runs the real function correctly.
        self._function.m_self = owner
        self._method.ml_meth = meth

    def restore(self) -> None:
        """Make every reference to the builtin run its real C function again."""
        meth, owner = self._original
        self._method.ml_meth = meth
        self._function.m_self = owner

    @property
    def swapped(self) -> bool:
        return bool(self._method.ml_meth == self._swapped[0])

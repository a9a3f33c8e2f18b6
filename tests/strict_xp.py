"""A CuPy-shaped strict array namespace for testing array-namespace code without a GPU.

``StrictArray`` holds a NumPy array but behaves as a CuPy array does where NumPy would be
lenient: implicit conversion to NumPy (``np.asarray(a)``, ``np.<func>(a)``, mixing with a
NumPy array in an operator) raises ``TypeError``; the only ways out are ``.get()`` and DLPack.
The namespace ``xp`` offers only the functions listed in ``FUNCTIONS``, the CuPy functions
gpu_mc relies on, so a NumPy-only function fails with ``AttributeError`` as it would on CuPy;
NumPy's own functions and ufuncs run on these arrays as CuPy's do (NEP 18 / NEP 13), as long
as no NumPy array is among the arguments.
Kernel launchers are stood in for by their CPU twins through explicit conversions (the
kernels themselves are checked against their twins elsewhere).
"""

from __future__ import annotations

import operator
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np

IMPLICIT = "Implicit conversion to a NumPy array is not allowed (as on CuPy); use .get()"


def _unwrap(x: Any) -> Any:
    if isinstance(x, StrictArray):
        return x._a
    if isinstance(x, np.ndarray) and x.ndim > 0:
        raise TypeError(f"a NumPy array mixed with a device array: {IMPLICIT}")
    if isinstance(x, list | tuple):
        return type(x)(_unwrap(v) for v in x)
    return x


def _wrap(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        return StrictArray(x)
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    if isinstance(x, np.generic):  # CuPy reductions return 0-d arrays, not scalars
        return StrictArray(np.asarray(x))
    return x


class StrictArray:
    """A NumPy array that refuses implicit conversion, as a CuPy array does."""

    __array_priority__ = 1000

    def __init__(self, a: np.ndarray) -> None:
        self._a = a

    # what CuPy refuses
    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError(IMPLICIT)

    # CuPy runs NumPy's functions and ufuncs on its arrays (NEP 18, NEP 13) where it has them,
    # and refuses NumPy arrays among the arguments.
    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        if func.__name__ not in FUNCTIONS:
            raise TypeError(f"numpy.{func.__name__} on a device array: {IMPLICIT}")
        return _wrap(func(*_unwrap(args), **_unwrap_kw(kwargs)))

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        if method != "__call__" or "out" in kwargs:
            raise TypeError(f"numpy.{ufunc.__name__}.{method} on a device array: {IMPLICIT}")
        return _wrap(ufunc(*_unwrap(inputs), **_unwrap_kw(kwargs)))

    def __iter__(self) -> Any:
        raise TypeError("iterating over a device array element by element (use .get())")

    def tolist(self) -> Any:
        raise TypeError("tolist() of a device array (use .get())")

    # explicit exits
    def get(self) -> np.ndarray:
        return self._a.copy()

    def __dlpack__(self, *args: Any, **kwargs: Any) -> Any:
        return self._a.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self) -> Any:
        return self._a.__dlpack_device__()

    # 0-d conversions CuPy allows (each one a device synchronisation)
    def __bool__(self) -> bool:
        return bool(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __index__(self) -> int:
        return operator.index(self._a)

    def item(self) -> Any:
        return self._a.item()

    def __len__(self) -> int:
        return len(self._a)

    def __repr__(self) -> str:
        return f"StrictArray({self._a!r})"

    # attributes and methods that CuPy arrays have
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    T = property(lambda self: StrictArray(self._a.T))
    flags = property(lambda self: self._a.flags)

    def _method(name: str) -> Any:
        def method(self: StrictArray, *args: Any, **kwargs: Any) -> Any:
            return _wrap(getattr(self._a, name)(*_unwrap(args), **_unwrap_kw(kwargs)))

        method.__name__ = name
        return method

    for _name in (
        "astype", "sum", "mean", "min", "max", "any", "all", "argmax", "argmin", "cumsum",
        "reshape", "ravel", "copy", "std", "var", "view", "fill", "prod", "nonzero", "round",
        "clip", "squeeze", "transpose",
    ):  # fmt: skip
        locals()[_name] = _method(_name)
    del _name

    def __getitem__(self, key: Any) -> Any:
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._a[_unwrap(key)] = _unwrap(value)


def _unwrap_kw(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: _unwrap(v) for k, v in kwargs.items()}


def _binary(func: Any) -> Any:
    def op(self: StrictArray, other: Any) -> Any:
        return _wrap(func(self._a, _unwrap(other)))

    def rop(self: StrictArray, other: Any) -> Any:
        return _wrap(func(_unwrap(other), self._a))

    return op, rop


def _inplace(func: Any) -> Any:
    def iop(self: StrictArray, other: Any) -> StrictArray:
        func(self._a, _unwrap(other))
        return self

    return iop


for _op in (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor",
    "lshift", "rshift", "matmul",
):  # fmt: skip
    _name = _op + "_" if _op in ("and", "or") else _op
    _f, _r = _binary(getattr(operator, _name))
    setattr(StrictArray, f"__{_op}__", _f)
    setattr(StrictArray, f"__r{_op}__", _r)
    setattr(StrictArray, f"__i{_op}__", _inplace(getattr(operator, "i" + _op)))
for _op in ("lt", "le", "eq", "ne", "gt", "ge"):
    setattr(StrictArray, f"__{_op}__", _binary(getattr(operator, _op))[0])
for _op in ("neg", "pos", "abs", "invert"):
    setattr(StrictArray, f"__{_op}__", lambda self, _n=_op: _wrap(getattr(operator, _n)(self._a)))
StrictArray.__hash__ = None  # type: ignore[assignment]

#: The NumPy-compatible functions CuPy provides that gpu_mc uses.
FUNCTIONS = (
    "abs", "all", "any", "arange", "arccos", "arcsin", "arctan", "arctan2", "argmax", "argmin",
    "argsort", "asarray", "bincount", "broadcast_to", "ceil", "clip", "concatenate", "cos",
    "count_nonzero", "cumsum", "deg2rad", "degrees", "diff", "empty", "empty_like", "exp",
    "expm1", "flatnonzero", "floor", "full", "full_like", "hypot", "isfinite", "isin", "isnan",
    "lexsort", "linspace", "log", "log10", "log1p", "logical_and", "logical_not",
    "logical_or", "maximum", "minimum", "mod", "nonzero", "ones", "ones_like", "rad2deg",
    "radians", "ravel", "repeat", "round", "searchsorted", "sign", "sin", "sort", "sqrt",
    "square", "stack", "sum", "take", "tan", "tanh", "trapezoid", "unique", "where", "zeros",
    "zeros_like", "remainder", "floor_divide", "power", "cumprod", "mean", "median",
    "percentile", "quantile", "histogram", "digitize", "interp", "column_stack", "max", "min",
    "cbrt", "arctanh", "cosh", "sinh", "exp2", "log2", "fmod", "less", "greater",
    "reciprocal", "copysign", "nan_to_num", "atleast_1d", "ascontiguousarray", "outer", "dot",
    "einsum", "vstack", "hstack", "meshgrid", "logaddexp", "erf",
)  # fmt: skip
CONSTANTS = (
    "pi", "inf", "nan", "e", "newaxis", "float16", "float32", "float64", "int8", "int16",
    "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool_", "intp", "dtype",
    "iinfo", "finfo", "integer", "floating", "bool",
)  # fmt: skip


def _function(name: str) -> Any:
    f = getattr(np, name)

    def call(*args: Any, **kwargs: Any) -> Any:
        return _wrap(f(*_unwrap(args), **_unwrap_kw(kwargs)))

    call.__name__ = name
    return call


def _asarray(a: Any, dtype: Any = None, **kwargs: Any) -> StrictArray:
    if isinstance(a, np.ndarray) and a.ndim > 0:  # cupy.asarray copies host data: explicit
        return StrictArray(np.array(a, dtype=dtype))
    if isinstance(a, StrictArray):
        return a if dtype is None or a.dtype == dtype else a.astype(dtype)
    return StrictArray(np.asarray(a, dtype=dtype, **kwargs))


class _Generator:
    """``xp.random.default_rng(seed)``: NumPy's generator, results on the device."""

    def __init__(self, seed: Any) -> None:
        self._g = np.random.default_rng(seed)

    def random(self, *args: Any, **kwargs: Any) -> StrictArray:
        return StrictArray(np.asarray(self._g.random(*args, **kwargs)))

    def standard_normal(self, *args: Any, **kwargs: Any) -> StrictArray:
        return StrictArray(np.asarray(self._g.standard_normal(*args, **kwargs)))


def make_namespace() -> ModuleType:
    """The strict namespace (module-like)."""
    ns = ModuleType("strict_cupy")
    for n in FUNCTIONS:
        if hasattr(np, n):
            setattr(ns, n, _function(n))
    for n in CONSTANTS:
        if hasattr(np, n):
            setattr(ns, n, getattr(np, n))
    ns.asarray = _asarray
    ns.array = _asarray
    ns.random = SimpleNamespace(default_rng=_Generator)
    ns.ndarray = StrictArray
    return ns


xp = make_namespace()


def to_strict(table: dict[str, Any]) -> dict[str, Any]:
    """Copy a table of NumPy columns to the strict 'device'."""
    return {k: xp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in table.items()}


def host(a: Any) -> Any:
    """Explicit copy to the host (``.get()``), NumPy arrays unchanged."""
    return a.get() if isinstance(a, StrictArray) else a

"""A strict, CuPy-shaped array namespace on array-api-strict, for GPU-shaped tests without a GPU.

The namespace :data:`xp` is `array-api-strict <https://data-apis.org/array-api-strict/>`_
(the array API standard and nothing more) plus a thin layer: the CuPy functions and array
methods gpu_mc calls that the standard lacks (:data:`CUPY_FUNCTIONS`, :data:`CUPY_METHODS`),
each written on array-api-strict arrays with CuPy's signature and CuPy's result. Inside
:func:`cupy_like` (which patches array-api-strict's ``Array`` and ``DType`` classes, and
undoes it on exit), ``gpu_mc.backend.array_namespace`` finds :data:`xp` through the arrays'
``__array_namespace__``, as it finds CuPy.

Implicit conversion to NumPy is refused as CuPy refuses it: ``np.asarray(a)`` and
``numpy.<function>(a)`` raise ``TypeError`` (``__array__``; NumPy's operators and ufuncs
defer, ``__array_ufunc__ = None``), and so do a NumPy array mixed into an operator, used as an
index or passed to a function of :data:`xp`. The ways out are CuPy's explicit ones:
``a.get()``, DLPack, and ``float``/``int``/``bool`` of one element. Host data goes in with
``xp.asarray`` (a copy, as ``cupy.asarray`` makes).

The target is what CuPy allows, the standard being the base. Where array-api-strict is
stricter than CuPy and gpu_mc's code is valid CuPy, the layer follows CuPy, in these cases
only (each counted in :data:`USED` as ``lenience:<case>`` when it happens):

``promotion``
    An operator on operands of different kinds (an integer array with a float array or a
    Python float) or with a NumPy scalar (``x * np.cos(beta)``): CuPy promotes them by
    NumPy 2's rules (NEP 50, CuPy 14), where the standard leaves mixed kinds undefined and
    array-api-strict raises. An operator with a NumPy scalar whose dtype CuPy 13 would
    promote otherwise (``float32 array - np.float64(4)``: float32 there, float64 on CuPy 14)
    is refused instead, as the GPU result would depend on the CuPy version.
``inplace``
    ``a op= b`` and ``a[key] = b`` where the result needs a same-kind cast to ``a``'s dtype
    (``float32 += float64``), which CuPy (like NumPy) does.
``integer_setitem``
    ``a[idx] = v`` with an integer index array: CuPy scatters; the standard specifies
    integer-array indexing for reading only.
``index``
    Keys CuPy takes and the standard does not specify (fewer indices than dimensions, an
    index array alongside a slice, a slice reaching past the end).
``dtype``
    A NumPy dtype or Python type as a ``dtype`` argument (``dtype=bool``), ``a.dtype``
    equal to NumPy's dtype, NumPy's dtype attributes (``a.dtype.kind``) and a dtype called
    to make a scalar (``xp.uint16(1)``): CuPy's dtypes are NumPy's.
``where``, ``sum``
    :data:`LENIENT_FUNCTIONS`: standard functions with arguments CuPy takes and the standard
    does not (two Python scalars in ``where``, the sum of a boolean array).

The layer also keeps CuPy's own restrictions where they are stricter than NumPy: ``sort`` and
``argsort`` are always stable and take ``kind`` None or ``"stable"`` only, ``bincount``
refuses an empty input (``cupy.max`` of nothing), ``interp`` refuses a non-contiguous ``x``,
the ufuncs refuse a list.
CuPy's random generator draws other numbers than NumPy's for the same seed; here
``xp.random.default_rng`` is NumPy's, so that the two paths can be compared draw for draw.
"""

from __future__ import annotations

import contextlib
import functools
from collections import Counter
from collections.abc import Callable, Iterator
from types import ModuleType, SimpleNamespace
from typing import Any

import array_api_strict
import numpy as np
from array_api_strict._array_object import Array
from array_api_strict._dtypes import DType

IMPLICIT = "Implicit conversion to a NumPy array is not allowed (as on CuPy); use .get()"

#: How often each function and method of the thin layer, and each lenience, was used.
USED: Counter[str] = Counter()
#: Each lenience with the operands it was used for (test diagnostics).
DETAIL: Counter[str] = Counter()

_DTYPES = {
    d._np_dtype: d
    for d in (
        array_api_strict.bool, array_api_strict.int8, array_api_strict.int16,
        array_api_strict.int32, array_api_strict.int64, array_api_strict.uint8,
        array_api_strict.uint16, array_api_strict.uint32, array_api_strict.uint64,
        array_api_strict.float32, array_api_strict.float64,
    )
}  # fmt: skip


def _new(a: Any) -> Array:
    """A NumPy result as an array-api-strict array (a NumPy scalar becomes a 0-d array, as
    CuPy's reductions return 0-d arrays)."""
    return Array._new(np.asarray(a), device=None)


def _np(x: Any) -> Any:
    """The NumPy array behind a device array, for the layer's own use; a host (NumPy) array
    is refused, as CuPy's functions refuse it."""
    if isinstance(x, Array):
        return x._array
    if isinstance(x, np.ndarray) and x.ndim > 0:
        raise TypeError(f"a NumPy array passed where a device array is needed: {IMPLICIT}")
    if isinstance(x, DType):
        return x._np_dtype
    if isinstance(x, list | tuple):
        return type(x)(_np(v) for v in x)
    return x


def _kind(x: Any) -> str:
    return str(x.dtype._np_dtype) if isinstance(x, Array) else type(x).__name__


def _note(case: str, detail: str) -> None:
    USED[f"lenience:{case}"] += 1
    DETAIL[f"{case}: {detail}"] += 1


def _dtype(d: Any) -> DType | None:
    """A dtype argument: NumPy's dtypes and Python types as CuPy takes them (``dtype``)."""
    if d is None or isinstance(d, DType):
        return d
    _note("dtype", f"dtype={d!r}")
    return _DTYPES[np.dtype(d)]


def _layer(f: Callable[..., Any]) -> Callable[..., Any]:
    """A function of the thin layer: its array arguments unwrapped (NumPy arrays refused), its
    result wrapped, its use counted."""

    @functools.wraps(f)
    def call(*args: Any, **kwargs: Any) -> Any:
        USED[f.__name__] += 1
        out = f(*_np(args), **{k: _np(v) for k, v in kwargs.items()})
        return tuple(_new(o) for o in out) if isinstance(out, tuple) else _new(out)

    return call


# --- the thin layer: CuPy functions outside the standard, with CuPy's signatures ------------
# Standard names differ (acos/asin/atan2, concat, remainder, cumulative_sum) or the function is
# not in the standard; each one below is called by gpu_mc.


def _ufunc(f: Callable[..., Any], *xs: Any) -> Any:
    """A CuPy ufunc: arrays and scalars only (a list is refused, as CuPy refuses it)."""
    if any(isinstance(x, list | tuple) for x in xs):
        raise TypeError(f"{f.__name__}: unsupported type list (CuPy ufuncs take arrays, scalars)")
    return f(*xs)


def arcsin(x: Any) -> Any:
    return _ufunc(np.arcsin, x)


def arctan2(x1: Any, x2: Any) -> Any:
    return _ufunc(np.arctan2, x1, x2)


def deg2rad(x: Any) -> Any:
    return _ufunc(np.deg2rad, x)


def rad2deg(x: Any) -> Any:
    return _ufunc(np.rad2deg, x)


def cbrt(x: Any) -> Any:
    return _ufunc(np.cbrt, x)


def mod(x1: Any, x2: Any) -> Any:
    return _ufunc(np.mod, x1, x2)


def concatenate(tup: Any, axis: int = 0, out: None = None, *, dtype: Any = None) -> Any:
    return np.concatenate(tup, axis=axis, dtype=_dtype_np(dtype))


def cumsum(a: Any, axis: int | None = None, dtype: Any = None, out: None = None) -> Any:
    return np.cumsum(a, axis=axis, dtype=_dtype_np(dtype))


def interp(
    x: Any, xp: Any, fp: Any, left: Any = None, right: Any = None, period: Any = None
) -> Any:
    if not x.flags.c_contiguous:
        raise NotImplementedError("Non-C-contiguous x is not supported by cupy.interp")
    return np.interp(x, xp, fp, left=left, right=right, period=period)


def bincount(x: Any, weights: Any = None, minlength: int | None = None) -> Any:
    if x.size == 0:  # cupy.bincount takes int(cupy.max(x)), which fails on no values
        raise ValueError("zero-size array to reduction operation maximum which has no identity")
    return np.bincount(x, weights=weights, minlength=0 if minlength is None else minlength)


def unique(
    ar: Any,
    return_index: bool = False,
    return_inverse: bool = False,
    return_counts: bool = False,
    axis: int | None = None,
    *,
    equal_nan: bool = True,
) -> Any:
    return np.unique(ar, return_index, return_inverse, return_counts, axis, equal_nan=equal_nan)


def lexsort(keys: Any) -> Any:
    return np.lexsort(keys)


def flatnonzero(a: Any) -> Any:
    return np.flatnonzero(a)


def nan_to_num(
    x: Any, copy: bool = True, nan: float = 0.0, posinf: Any = None, neginf: Any = None
) -> Any:
    return np.nan_to_num(x, copy=copy, nan=nan, posinf=posinf, neginf=neginf)


def ascontiguousarray(a: Any, dtype: Any = None) -> Any:
    return np.ascontiguousarray(a, dtype=_dtype_np(dtype))


def _check_kind(kind: str | None) -> None:
    if kind is not None and kind != "stable":
        raise ValueError("kind can only be None or 'stable' (CuPy sorts stably)")


def sort(a: Any, axis: int | None = -1, kind: str | None = None) -> Any:
    _check_kind(kind)
    return np.sort(a, axis=axis, kind="stable")


def argsort(a: Any, axis: int | None = -1, kind: str | None = None) -> Any:
    _check_kind(kind)
    return np.argsort(a, axis=axis, kind="stable")


def _dtype_np(d: Any) -> Any:
    return None if d is None else (d if isinstance(d, np.dtype) else _dtype(d)._np_dtype)


#: The CuPy functions of the layer.
CUPY_FUNCTIONS = (
    arcsin, arctan2, deg2rad, rad2deg, cbrt, mod, concatenate, cumsum, interp, bincount,
    unique, lexsort, flatnonzero, nan_to_num, ascontiguousarray, sort, argsort,
)  # fmt: skip


def _asarray(obj: Any, dtype: Any = None, copy: bool | None = None) -> Array:
    """``cupy.asarray``: host data is copied to the device (never aliased); device arrays
    pass through, cast where a dtype is given."""
    USED["asarray"] += 1
    dtype = _dtype(dtype)
    if isinstance(obj, Array):
        return obj if dtype is None else array_api_strict.astype(obj, dtype, copy=False)
    return _new(np.array(_np_host(obj), dtype=None if dtype is None else dtype._np_dtype))


def _np_host(obj: Any) -> Any:
    """Host data for ``asarray``: a sequence may hold device scalars (0-d arrays)."""
    if isinstance(obj, list | tuple):
        return [_np_host(o) for o in obj]
    return obj._array if isinstance(obj, Array) else obj


class _Generator:
    """``xp.random.default_rng(seed)``: NumPy's generator (see the module docstring), its draws
    on the device."""

    def __init__(self, seed: Any) -> None:
        USED["random.default_rng"] += 1
        self._g = np.random.default_rng(seed)

    def random(self, size: Any = None, dtype: Any = None) -> Array:
        return _new(self._g.random(size, dtype=_dtype_np(dtype) or np.float64))

    def standard_normal(self, size: Any = None, dtype: Any = None) -> Array:
        return _new(self._g.standard_normal(size, dtype=_dtype_np(dtype) or np.float64))


#: Standard functions that CuPy also takes with arguments the standard does not: where
#: array-api-strict refuses them (``TypeError``), CuPy's (NumPy's) result.
LENIENT_FUNCTIONS = {
    "where": "two Python scalars as the values (xp.where(mask, 4, 3))",
    "sum": "a boolean array (a count)",
}


def _lenient_function(name: str) -> Callable[..., Any]:
    strict, numpy_f = getattr(array_api_strict, name), getattr(np, name)

    @functools.wraps(strict)
    def call(*args: Any, **kwargs: Any) -> Any:
        a, kw = _np(args), {k: _np(v) for k, v in kwargs.items()}  # refuses NumPy arrays
        try:
            return strict(*args, **kwargs)
        except TypeError:
            pass
        _note(name, ", ".join(_kind(x) for x in args))
        return _new(numpy_f(*a, **kw))

    return call


def _standard(f: Callable[..., Any]) -> Callable[..., Any]:
    """A standard function that takes a NumPy dtype as CuPy does, and refuses NumPy arrays."""

    @functools.wraps(f)
    def call(*args: Any, **kwargs: Any) -> Any:
        _np(args)
        if kwargs.get("dtype") is not None:
            kwargs["dtype"] = _dtype(kwargs["dtype"])
        return f(*args, **kwargs)

    return call


def make_namespace() -> ModuleType:
    """The namespace: array-api-strict's names, then the thin CuPy layer."""
    ns = ModuleType("strict_cupy")
    for name in array_api_strict.__all__:
        f = getattr(array_api_strict, name)
        is_function = callable(f) and not isinstance(f, type | DType)
        setattr(ns, name, _standard(f) if is_function else f)
    for name in LENIENT_FUNCTIONS:
        setattr(ns, name, _lenient_function(name))
    for f in CUPY_FUNCTIONS:
        setattr(ns, f.__name__, _layer(f))
    ns.asarray = _asarray
    ns.random = SimpleNamespace(default_rng=_Generator)
    return ns


xp = make_namespace()


# --- CuPy's array methods and lenience, patched onto array-api-strict's classes --------------


def _method(name: str) -> Callable[..., Any]:
    def method(self: Array, *args: Any, **kwargs: Any) -> Any:
        USED[f"method:{name}"] += 1
        if "dtype" in kwargs:
            kwargs["dtype"] = _dtype_np(kwargs["dtype"])
        args = tuple(_dtype_np(a) if isinstance(a, DType) else a for a in args)
        return _new(
            getattr(self._array, name)(*_np(args), **{k: _np(v) for k, v in kwargs.items()})
        )

    method.__name__ = name
    return method


#: ``cupy.ndarray`` methods that gpu_mc calls and the standard's array object lacks.
CUPY_METHODS = ("astype", "mean", "std", "sum", "reshape")


def _refuse_array(self: Array, *args: Any, **kwargs: Any) -> np.ndarray:
    raise TypeError(IMPLICIT)


def _get(self: Array) -> np.ndarray:
    """``cupy.ndarray.get``: the explicit copy to the host."""
    return self._array.copy()


def _operand(other: Any) -> Any:
    """An operator's other operand as NumPy sees it; a NumPy array is refused, as on CuPy."""
    if isinstance(other, np.ndarray):
        raise TypeError(f"a NumPy array mixed with a device array: {IMPLICIT}")
    return other._array if isinstance(other, Array) else other


def _lenient_operator(name: str) -> Callable[..., Any]:
    """array-api-strict's operator, and CuPy's (NumPy's) result where it refuses the operands
    (``promotion``) or an in-place result needs a same-kind cast (``inplace``)."""
    strict = getattr(Array, name)
    inplace = name.startswith("__i")

    def op(self: Array, other: Any) -> Any:
        o = _operand(other)
        try:
            return strict(self, other)
        except TypeError:
            pass
        if isinstance(other, np.generic):
            _same_on_cupy13(self, other, name)
        _note("inplace" if inplace else "promotion", f"{name} {_kind(self)} {_kind(other)}")
        res = getattr(self._array, name)(o)
        if res is NotImplemented:
            return res
        return self if inplace else _new(res)

    op.__name__ = name
    return op


def _same_on_cupy13(a: Array, scalar: np.generic, name: str) -> None:
    """Refuse an operator whose dtype differs between CuPy 13 and 14: CuPy 14 promotes a
    NumPy scalar as NumPy 2 does (``float32 array - np.float64(4)`` is float64), CuPy 13 as
    a Python scalar of its kind (float32), so the GPU result would depend on the CuPy
    version (the lower bound is 13.6)."""
    nep50 = np.result_type(a._array.dtype, scalar.dtype)
    legacy = np.result_type(a._array.dtype, scalar.item())
    if nep50 != legacy:
        raise TypeError(
            f"{name} of a {a._array.dtype} array and a NumPy {scalar.dtype} scalar is {nep50} on"
            f" CuPy 14 and {legacy} on CuPy 13; make the dtype explicit"
        )


_BINARY = (
    "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor", "lshift",
    "rshift",
)  # fmt: skip


def _operator_patches() -> dict[str, Any]:
    names = [f"__{n}__" for n in ("lt", "le", "eq", "ne", "gt", "ge")]
    for n in _BINARY:
        names += [f"__{n}__", f"__r{n}__", f"__i{n}__"]
    return {n: _lenient_operator(n) for n in names}


_OPERATORS = _operator_patches()  # built once, on array-api-strict's own operators


def _np_key(key: Any) -> Any:
    """An index as NumPy sees it; a NumPy index array is refused (a host array)."""
    if isinstance(key, tuple):
        return tuple(_np_key(k) for k in key)
    if isinstance(key, np.ndarray):
        raise TypeError(f"a NumPy index array for a device array: {IMPLICIT}")
    return key._array if isinstance(key, Array) else key


def _key_kind(key: Any) -> str:
    keys = key if isinstance(key, tuple) else (key,)
    return "[" + ", ".join(_kind(k) for k in keys) + "]"


_strict_getitem, _strict_setitem = Array.__getitem__, Array.__setitem__


def _getitem(self: Array, key: Any) -> Array:
    """array-api-strict's indexing, and CuPy's (NumPy's) for keys it refuses (``index``)."""
    k = _np_key(key)
    try:
        return _strict_getitem(self, key)
    except IndexError:
        pass
    _note("index", f"{self.ndim}-d {_key_kind(key)}")
    return _new(self._array[k])


def _setitem(self: Array, key: Any, value: Any) -> None:
    """array-api-strict's assignment, and CuPy's (NumPy's) where it refuses: an integer index
    array (``integer_setitem``), a value of another dtype (``inplace``), another key
    (``index``)."""
    k, v = _np_key(key), _operand(value)
    try:
        return _strict_setitem(self, key, value)
    except (IndexError, TypeError):
        pass
    keys = key if isinstance(key, tuple) else (key,)
    if any(isinstance(i, Array) and i._array.dtype.kind in "iu" for i in keys):
        case = "integer_setitem"
    elif isinstance(value, Array | float | np.generic):
        case = "inplace"
    else:
        case = "index"
    _note(case, f"{_kind(self)}{_key_kind(key)} = {_kind(value)}")
    self._array[k] = v


def _dtype_eq(self: DType, other: Any) -> bool:
    """A dtype equals its NumPy dtype, as CuPy's dtypes are NumPy's (``dtype``)."""
    if isinstance(other, DType):
        return self._np_dtype == other._np_dtype
    _note("dtype", f"== {other!r}")
    try:
        return bool(self._np_dtype == np.dtype(other))
    except TypeError:
        return False


def _dtype_attribute(self: DType, name: str) -> Any:
    """NumPy's dtype attributes (``kind``, ``itemsize``, ...), as on CuPy (``dtype``)."""
    if name.startswith("__"):
        raise AttributeError(name)
    _note("dtype", f".{name}")
    return getattr(self._np_dtype, name)


def _dtype_call(self: DType, value: Any) -> Any:
    """``xp.uint16(1)``: CuPy's dtypes are NumPy's scalar types, so calling one makes a NumPy
    scalar (``dtype``)."""
    _note("dtype", f"{self._np_dtype}(...)")
    return self._np_dtype.type(value)


@contextlib.contextmanager
def _patched(cls: type, patches: dict[str, Any]) -> Iterator[None]:
    """Set class attributes for the duration, then restore (or remove) them."""
    saved = {k: cls.__dict__.get(k) for k in patches}
    for k, v in patches.items():
        setattr(cls, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                delattr(cls, k)
            else:
                setattr(cls, k, v)


@contextlib.contextmanager
def cupy_like() -> Iterator[ModuleType]:
    """Give array-api-strict's arrays CuPy's shape for the duration; yields :data:`xp`."""
    array_patches: dict[str, Any] = {
        "__array__": _refuse_array,
        "__array_ufunc__": None,  # NumPy's operators defer to ours, which refuse NumPy arrays
        "__array_namespace__": lambda self, api_version=None: xp,
        "__getitem__": _getitem,
        "__setitem__": _setitem,
        "get": _get,
        **{name: _method(name) for name in CUPY_METHODS},
        **_OPERATORS,
    }
    dtype_patches = {
        "__eq__": _dtype_eq,
        "__hash__": DType.__hash__,
        "__getattr__": _dtype_attribute,
        "__call__": _dtype_call,
    }
    with _patched(Array, array_patches), _patched(DType, dtype_patches):
        yield xp


def to_strict(table: dict[str, Any]) -> dict[str, Any]:
    """Copy a table of NumPy columns to the strict 'device'."""
    return {k: xp.asarray(v) if isinstance(v, np.ndarray) else v for k, v in table.items()}


def host(a: Any) -> Any:
    """Explicit copy to the host (``.get()``), NumPy arrays unchanged."""
    return a.get() if isinstance(a, Array) else a

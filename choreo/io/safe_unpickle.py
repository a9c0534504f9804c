"""Numpy arrays from untrusted pickles, rebuilt without handing pickled state to numpy.

numpy's own pickle helpers (``_reconstruct``, ``ndarray.__setstate__``, ``dtype.__setstate__``,
``scalar``, ``_frombuffer``) trust their state: a crafted dtype state can declare an object field
while its flags say "no objects", and freeing an array rebuilt from raw bytes with that dtype
dereferences attacker-chosen pointers (a segfault, or worse). So a restricted unpickler must never
resolve those names to numpy. ``NUMPY_GLOBALS`` maps them to inert stand-ins that only record what
was pickled; ``materialise`` turns a recorded array into a real one only when it is plain numbers:

* dtype: one of ``PLAIN_TYPES`` (``f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1``), byte order ``< > | =``,
  no sub-array, names, fields, metadata or flags;
* shape: a tuple of non-negative ints totalling at most ``MAX_ARRAY_BYTES``;
* data: bytes (or a Python 2 ``str``, encoded latin-1) of exactly ``prod(shape) * itemsize``.

The array is then ``np.frombuffer(raw, dtype).reshape(shape, order).copy()``. Anything else raises
``UnsafePickleError``. ``CODECS_GLOBALS`` covers how protocol-2 pickles spell bytes (latin-1
``_codecs.encode`` and an empty ``bytes()``); ``PlainBytearray`` is ``bytearray(bytes)`` for readers that allow it.
The stand-in classes cannot be modified by a pickle (``BUILD`` on a class is refused, a recorded value takes its
state once), and the unpicklers built on ``RestrictedUnpickler`` resolve only the globals they list.

A pickle's memo lets one small record be referenced many times, so sizes are bounded per load, not per value:
``materialise`` converts each recorded object once and hands the same result to every reference, and every
array, ``_codecs.encode`` and ``bytearray`` a load builds is charged to one ``ByteBudget`` (``MAX_TOTAL_BYTES``
unless the reader sets another), refused before it is allocated once the budget is spent.
"""

from __future__ import annotations

import math
import pickle
from collections.abc import Mapping
from functools import partial

import numpy as np

from ..errors import ChoreoError

PLAIN_TYPES = frozenset({"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"})
BYTE_ORDERS = frozenset({"<", ">", "|", "="})
MAX_ARRAY_BYTES = 2**31
MAX_TOTAL_BYTES = 2**32  # everything one load may build; an SMPL model, the largest file read, is ~250 MB
MAX_NDIM = 32
MAX_DEPTH = 64  # nesting of containers and stand-in states walked by ``materialise``


class UnsafePickleError(ChoreoError, pickle.UnpicklingError):
    """A pickle names something other than what its reader allows, or holds a non-plain numpy array."""


class ByteBudget:
    """Bytes that the values of one load may still allocate, so memo references cannot multiply a small file.

    >>> budget = ByteBudget(10)
    >>> budget.charge(8, "an array")
    >>> 10 - budget.used_bytes  # a second 8-byte array would now raise UnsafePickleError
    2
    """

    def __init__(self, limit_bytes: int) -> None:
        self.limit_bytes = limit_bytes
        self.used_bytes = 0

    def charge(self, size_bytes: int, what: str) -> None:
        """Count ``size_bytes`` for ``what``, or raise ``UnsafePickleError`` if they do not fit."""
        left = self.limit_bytes - self.used_bytes
        if size_bytes > left:
            raise UnsafePickleError(
                f"{what} needs {size_bytes} bytes but only {left} of this file's {self.limit_bytes}-byte budget are "
                "left; the pickle references its data more often than a genuine file does. Re-create the file from "
                "its original source.")
        self.used_bytes += size_bytes


class _Frozen(type):
    """Metaclass of the stand-ins: a pickle cannot set attributes on the classes it is handed."""

    def __setattr__(cls, name: str, value: object) -> None:
        raise UnsafePickleError(f"refusing to modify {cls.__name__}.{name} from a pickle.")

    def __delattr__(cls, name: str) -> None:
        raise UnsafePickleError(f"refusing to modify {cls.__name__}.{name} from a pickle.")


class InertObject(metaclass=_Frozen):
    """Stand-in for a pickled class instance: keeps its BUILD state once, runs nothing."""

    def __setstate__(self, state: object) -> None:
        if "state" in self.__dict__:
            raise UnsafePickleError(f"a pickle sets the state of one {type(self).__name__} twice; it is crafted.")
        self.__dict__["state"] = state


class NdarrayMarker(metaclass=_Frozen):
    """``numpy.ndarray`` as a pickle names it: only a marker passed to ``_reconstruct``."""

    def __new__(cls, *args: object, **kwargs: object):
        raise UnsafePickleError("refusing to call numpy.ndarray from a pickle; arrays are rebuilt by Choreo.")


class RecordedDtype(InertObject):
    """``numpy.dtype(typestr, align, copy)`` plus its BUILD state, recorded."""

    typestr = None

    def __init__(self, typestr: object = None, align: object = False, copy: object = True) -> None:
        self.__dict__["typestr"] = typestr


class RecordedArray(InertObject):
    """``numpy.core.multiarray._reconstruct(ndarray, (0,), b"b")`` plus its BUILD state, recorded."""

    def __init__(self, subtype: object = None, shape: object = None, typecode: object = None) -> None:
        if subtype is not NdarrayMarker:
            raise UnsafePickleError(f"refusing numpy _reconstruct of {subtype!r}: only plain ndarrays are read.")


class RecordedScalar(InertObject):
    """``numpy.core.multiarray.scalar(dtype, raw)``, recorded."""

    dtype = raw = None

    def __init__(self, dtype: object = None, raw: object = None) -> None:
        self.__dict__.update(dtype=dtype, raw=raw)


class RecordedBuffer(InertObject):
    """``numpy.core.numeric._frombuffer(buffer, dtype, shape, order)`` (pickle protocol 5), recorded."""

    buffer = dtype = shape = order = None

    def __init__(self, buffer: object = None, dtype: object = None, shape: object = None, order: object = "C"):
        self.__dict__.update(buffer=buffer, dtype=dtype, shape=shape, order=order)


class Latin1Encode(metaclass=_Frozen):
    """``_codecs.encode(text, "latin1")``, which protocol-2 pickles use for bytes; no other codec."""

    def __new__(cls, text: object, encoding: object = "latin1", errors: object = "strict", *, budget: ByteBudget):
        if not isinstance(text, str) or encoding not in ("latin1", "latin-1") or errors != "strict":
            raise UnsafePickleError(f"refusing _codecs.encode with {encoding!r}: pickles use it only for latin-1.")
        budget.charge(len(text), "a pickled byte string")
        return text.encode("latin-1")


class PlainBytearray(metaclass=_Frozen):
    """``bytearray(data)`` as pickles write it: ``data`` is bytes (or latin-1 text); never ``bytearray(size)``,
    which would let a few bytes of pickle allocate any amount of memory."""

    def __new__(cls, data: object = b"", encoding: object = None, *, budget: ByteBudget):
        if isinstance(data, str) and encoding in ("latin1", "latin-1"):
            data = data.encode("latin-1")
        elif encoding is not None or not isinstance(data, (bytes, bytearray)):
            raise UnsafePickleError(f"refusing bytearray({type(data).__name__}) from a pickle; only "
                                    "bytearray(bytes) is read.")
        budget.charge(len(data), "a pickled bytearray")
        return bytearray(data)


class EmptyBytes(metaclass=_Frozen):
    """``bytes()``, which protocol-2 pickles use for empty bytes (an empty array's data); nothing else."""

    def __new__(cls, *args: object):
        if args:
            raise UnsafePickleError("refusing bytes(...) with arguments from a pickle; only bytes() is read.")
        return b""


NUMPY_GLOBALS: dict[tuple[str, str], type] = {
    ("numpy", "ndarray"): NdarrayMarker,
    ("numpy", "dtype"): RecordedDtype,
    **{(module, "_reconstruct"): RecordedArray for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "scalar"): RecordedScalar for module in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(module, "_frombuffer"): RecordedBuffer for module in ("numpy.core.numeric", "numpy._core.numeric")},
}
CODECS_GLOBALS: dict[tuple[str, str], type] = {
    ("_codecs", "encode"): Latin1Encode, ("__builtin__", "bytes"): EmptyBytes, ("builtins", "bytes"): EmptyBytes}
_CHARGED = (Latin1Encode, PlainBytearray)  # stand-ins that allocate: handed to the pickle bound to the load's budget


class RestrictedUnpickler(pickle.Unpickler):
    """Resolves only ``allowed`` and ``NUMPY_GLOBALS``; subclasses set ``allowed`` and ``refusal``.

    ``budget`` bounds what this load allocates; pass it to ``materialise`` so the arrays share it.
    """

    allowed: Mapping[tuple[str, str], object] = CODECS_GLOBALS

    def __init__(self, *args, max_total_bytes: int | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.budget = ByteBudget(MAX_TOTAL_BYTES if max_total_bytes is None else max_total_bytes)

    def find_class(self, module: str, name: str):
        found = self.allowed.get((module, name)) or NUMPY_GLOBALS.get((module, name))
        if found is None:
            raise self.refusal(module, name)
        return partial(found, budget=self.budget) if found in _CHARGED else found

    def refusal(self, module: str, name: str) -> Exception:
        """The error raised for a global that is not allowed."""
        return UnsafePickleError(f"refusing to unpickle {module}.{name}: it is not allowed in this file.")

    def persistent_load(self, pid: object) -> object:
        raise UnsafePickleError("refusing a persistent id in the pickle; the files read here have none.")


def plain_dtype(recorded: object) -> np.dtype:
    """The numpy dtype a ``RecordedDtype`` describes, if it is one of ``PLAIN_TYPES``."""
    if not isinstance(recorded, RecordedDtype):
        raise UnsafePickleError(f"a pickled numpy array names dtype {type(recorded).__name__}, not a numpy dtype.")
    typestr, state = recorded.typestr, recorded.__dict__.get("state")
    if typestr not in PLAIN_TYPES:
        raise UnsafePickleError(f"a pickled numpy array has dtype {typestr!r}; only plain numbers "
                                f"({' '.join(sorted(PLAIN_TYPES))}) are read.")
    endian = "="
    if state is not None:
        if not isinstance(state, tuple) or len(state) not in (8, 9):
            raise UnsafePickleError(f"the pickled numpy dtype {typestr!r} has an unknown state layout.")
        version, endian, subarray, names, fields, elsize, alignment, flags = state[:8]
        metadata = state[8] if len(state) == 9 else None
        itemsize = int(typestr[1:])
        if (version not in (3, 4) or endian not in BYTE_ORDERS or (subarray, names, fields, metadata) != (None,) * 4
                or type(flags) is not int or flags != 0 or type(elsize) is not int or elsize not in (-1, itemsize)
                or type(alignment) is not int):
            raise UnsafePickleError(f"the pickled numpy dtype {typestr!r} declares sub-arrays, fields, metadata or "
                                    f"flags (state {state!r:.120}); only plain numbers are read.")
    return np.dtype(endian + typestr)


def _raw_bytes(raw: object, size: int, what: str) -> bytes | bytearray:
    if isinstance(raw, str):  # Python 2 pickles, read with encoding="latin1"
        try:
            raw = raw.encode("latin-1")
        except UnicodeEncodeError as error:
            raise UnsafePickleError(f"{what} holds text that is not array bytes.") from error
    if not isinstance(raw, (bytes, bytearray)):
        raise UnsafePickleError(f"{what} holds {type(raw).__name__}, not array bytes (object arrays are refused).")
    if len(raw) != size:
        raise UnsafePickleError(f"{what} holds {len(raw)} bytes, its shape and dtype need {size}.")
    return raw


def _array(raw: object, dtype: np.dtype, shape: object, fortran: bool, budget: ByteBudget) -> np.ndarray:
    if (not isinstance(shape, tuple) or len(shape) > MAX_NDIM
            or not all(type(n) is int and n >= 0 for n in shape)):
        raise UnsafePickleError(f"a pickled numpy array has shape {shape!r:.80}; expected a tuple of "
                                "non-negative ints.")
    size = math.prod(shape) * dtype.itemsize
    what = f"a pickled numpy array of shape {shape} {dtype}"
    if size > MAX_ARRAY_BYTES:
        raise UnsafePickleError(f"{what} needs {size} bytes, more than the {MAX_ARRAY_BYTES} read.")
    data = _raw_bytes(raw, size, what)
    budget.charge(size, what)
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran else "C").copy()


def to_numpy(recorded: RecordedArray | RecordedScalar | RecordedBuffer,
             budget: ByteBudget | None = None) -> np.ndarray | np.generic:
    """The plain numpy array (or scalar) a recorded value describes; ``UnsafePickleError`` otherwise.

    budget : the load's ``ByteBudget``, charged with the array's bytes (a fresh ``MAX_TOTAL_BYTES`` one if None).

    >>> import io, pickle
    >>> to_numpy(RestrictedUnpickler(io.BytesIO(pickle.dumps(np.arange(3.0)))).load())
    array([0., 1., 2.])
    """
    budget = ByteBudget(MAX_TOTAL_BYTES) if budget is None else budget
    if isinstance(recorded, RecordedScalar):
        dtype = plain_dtype(recorded.dtype)
        what = f"a pickled numpy {dtype} scalar"
        budget.charge(dtype.itemsize, what)
        return np.frombuffer(_raw_bytes(recorded.raw, dtype.itemsize, what), dtype)[0]
    if isinstance(recorded, RecordedBuffer):
        if recorded.order not in ("C", "F"):
            raise UnsafePickleError(f"a pickled numpy buffer has order {recorded.order!r}; expected 'C' or 'F'.")
        return _array(recorded.buffer, plain_dtype(recorded.dtype), recorded.shape, recorded.order == "F", budget)
    if not isinstance(recorded, RecordedArray):
        raise UnsafePickleError(f"expected a pickled numpy array, got {type(recorded).__name__}.")
    state = recorded.__dict__.get("state")
    if isinstance(state, tuple) and len(state) == 5:
        version, *state = state
        if version != 1:
            raise UnsafePickleError(f"a pickled numpy array has state version {version!r}; expected 1.")
    if not isinstance(state, (tuple, list)) or len(state) != 4:
        raise UnsafePickleError("a pickled numpy array has no (shape, dtype, fortran, data) state.")
    shape, dtype, fortran, raw = state
    if fortran not in (True, False) or type(fortran) not in (bool, int):
        raise UnsafePickleError(f"a pickled numpy array has order flag {fortran!r}; expected a bool.")
    return _array(raw, plain_dtype(dtype), shape, bool(fortran), budget)


_RECORDED = (RecordedArray, RecordedScalar, RecordedBuffer)
_IMMUTABLE = (tuple, set, frozenset)  # rebuilt as new containers, so they are converted after their items


class _Materialiser:
    """One walk over an unpickled value: converts each recorded object and container once, by identity.

    ``done`` maps ``id(original)`` to ``(original, converted)``; keeping the original alive keeps its id from
    being reused by a value created during the walk.
    """

    def __init__(self, budget: ByteBudget) -> None:
        self.budget = budget
        self.done: dict[int, tuple[object, object]] = {}
        self.open: set[int] = set()  # tuples and sets whose items are being converted

    def convert(self, value: object, depth: int) -> object:
        if depth > MAX_DEPTH:
            raise UnsafePickleError(f"a pickle nests containers more than {MAX_DEPTH} deep.")
        if id(value) in self.done:
            return self.done[id(value)][1]
        if isinstance(value, _RECORDED):
            return self._remember(value, to_numpy(value, self.budget))
        if isinstance(value, InertObject) and type(value) is not RecordedDtype:
            self._remember(value, value)  # before its state: the state may refer back to it
            if "state" in value.__dict__:
                value.__dict__["state"] = self.convert(value.__dict__["state"], depth + 1)
            return value
        if isinstance(value, dict):
            self._remember(value, value)
            for key, item in list(value.items()):
                value[key] = self.convert(item, depth + 1)
            return value
        if isinstance(value, list):
            self._remember(value, value)
            value[:] = [self.convert(item, depth + 1) for item in value]
            return value
        if type(value) in _IMMUTABLE:
            return self._rebuild(value, depth)
        return value

    def _rebuild(self, value: tuple | set | frozenset, depth: int) -> object:
        if id(value) in self.open:
            raise UnsafePickleError(f"a pickled {type(value).__name__} contains itself; data files never do, so "
                                    "the file is refused.")
        self.open.add(id(value))
        items = [self.convert(item, depth + 1) for item in value]
        self.open.discard(id(value))
        try:
            return self._remember(value, type(value)(items))
        except TypeError as error:  # a set member that became an (unhashable) array
            raise UnsafePickleError(f"a pickled {type(value).__name__} holds numpy arrays, which cannot be set "
                                    "members; the file is not a plain data file.") from error

    def _remember(self, original: object, converted: object) -> object:
        self.done[id(original)] = (original, converted)
        return converted


def materialise(value: object, budget: ByteBudget | None = None) -> object:
    """``value`` with every recorded numpy array converted (``to_numpy``), walking dict values, lists, tuples,
    sets and ``InertObject`` states (dicts, lists and states in place); other values are returned as they are.

    Each recorded object is converted once and every reference to it gets the same result (a pickle may
    reference one array thousands of times), and all arrays are charged to ``budget``: pass the unpickler's
    (``RestrictedUnpickler.budget``) so the whole load shares one; None gives a fresh ``MAX_TOTAL_BYTES`` one.

    >>> import io, pickle
    >>> materialise(RestrictedUnpickler(io.BytesIO(pickle.dumps([np.int8(3)]))).load())
    [np.int8(3)]
    """
    return _Materialiser(ByteBudget(MAX_TOTAL_BYTES) if budget is None else budget).convert(value, 0)


__all__ = ["ByteBudget", "CODECS_GLOBALS", "InertObject", "MAX_ARRAY_BYTES", "MAX_TOTAL_BYTES", "NUMPY_GLOBALS",
           "PLAIN_TYPES", "PlainBytearray", "RecordedArray", "RecordedBuffer", "RecordedDtype", "RecordedScalar",
           "RestrictedUnpickler", "UnsafePickleError", "materialise", "plain_dtype", "to_numpy"]

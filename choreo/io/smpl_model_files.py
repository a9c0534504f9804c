"""SMPL body-model files: find them, read them without running pickled code, convert ``.pkl`` to ``.npz``.

SMPL (https://smpl.is.tue.mpg.de) is licence-gated: Choreo never ships it. Users register,
download it and put the files in ``ComfyUI/models/smpl``; the names recognised are those of
the official downloads (``basicModel_neutral_lbs_10_207_0_v1.0.0.pkl``,
``basicmodel_m_lbs_10_207_0_v1.1.0.pkl``, ...) and of smplx's layout (``SMPL_NEUTRAL.pkl``,
``smpl/SMPL_MALE.npz``, ...), in any sub-folder.

The official ``.pkl`` files are Python 2 pickles that name chumpy and scipy classes, so plain
``pickle.load`` needs chumpy installed and would run whatever a hostile file names. Here a
restricted unpickler resolves only ``set``, latin-1 ``_codecs.encode``, numpy's array, dtype and scalar
reconstruction mapped to the recording stand-ins of ``safe_unpickle`` (only plain numeric arrays are
rebuilt, and numpy never sees pickled state), and three inert stand-ins that record their pickled state (layout read from chumpy's ``ch.py``,
``Ch.__getstate__``, and ``reordering.py``; scipy's own pickles):

* ``chumpy.ch.Ch``: pickled by the default protocol-2 reduction (NEWOBJ, then BUILD with its
  ``__dict__`` minus the weak caches); the array is the state's ``x``.
* ``chumpy.reordering.Select``: ``a`` (a Ch), ``idxs``, ``preferred_shape``; its value is
  ``a.ravel()[idxs].reshape(preferred_shape)``.
* ``scipy.sparse.csc_matrix`` (``scipy.sparse.csc`` in old pickles, ``scipy.sparse._csc`` now):
  ``data``, ``indices``, ``indptr`` and ``_shape`` (``shape`` in very old scipy); made dense here.

Anything else (``os.system``, ``builtins.eval``, another chumpy class) stops the load with
``SMPLModelError`` before it is called; so does a malformed array, Select or sparse matrix. A converted ``.npz`` holds only the arrays smplx reads
(``SMPL_KEYS``) and loads with ``allow_pickle=False``.

CLI::

    python -m choreo.io.smpl_model_files basicModel_neutral_lbs_10_207_0_v1.0.0.pkl [SMPL_NEUTRAL.npz]
"""

from __future__ import annotations

import argparse
import io
import os
import pickle
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ChoreoError
from ..motion.skeleton import NUM_JOINTS, PARENTS
from .atomic import save_npz_atomic
from .safe_unpickle import (CODECS_GLOBALS, MAX_ARRAY_BYTES, InertObject, RestrictedUnpickler, UnsafePickleError,
                            materialise)

SMPL_DOWNLOAD_URL = "https://smpl.is.tue.mpg.de"
SMPL_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
NUM_VERTICES = 6890
NUM_POSE_BASIS = (NUM_JOINTS - 1) * 9  # pose blend shapes: (R - I) of the 23 non-root joints
GENDERS = ("neutral", "male", "female")
SUFFIXES = (".npz", ".pkl")
MAX_SEARCH_DEPTH = 3  # sub-folder levels searched, as in SMPL_python_v.1.1.0/smpl/models/<file>
_MODEL_NAME = re.compile(
    r"^(?:smpl_(neutral|male|female)|basicmodel_(neutral|f|m)_lbs_\d+_207_0_v[\d.]+)\.(?:npz|pkl)$", re.IGNORECASE)
_GENDER_CODES = {"neutral": "neutral", "male": "male", "female": "female", "m": "male", "f": "female"}


class SMPLModelError(ChoreoError):
    """An SMPL model file is missing, malformed, or names code it is not allowed to run."""


class _ChumpyCh(InertObject):
    """``chumpy.ch.Ch``; the array is ``state["x"]``."""


class _ChumpySelect(InertObject):
    """``chumpy.reordering.Select``; ``state["a"]`` raveled, indexed by ``idxs``, reshaped."""


class _SparseCSC(InertObject):
    """``scipy.sparse.csc_matrix``; ``data``, ``indices``, ``indptr``, ``_shape``."""


_STAND_INS = {
    ("chumpy.ch", "Ch"): _ChumpyCh,
    ("chumpy.reordering", "Select"): _ChumpySelect,
    ("scipy.sparse.csc", "csc_matrix"): _SparseCSC,
    ("scipy.sparse._csc", "csc_matrix"): _SparseCSC,
}


def _reconstructor(cls: type, base: type, state: object) -> object:
    """``copy_reg._reconstructor`` of protocol-0/1 pickles, limited to plain objects of the stand-ins."""
    if base is not object or cls not in _STAND_INS.values() or state is not None:
        raise SMPLModelError(f"refusing copy_reg._reconstructor({cls!r}, {base!r}): only chumpy/scipy stand-ins.")
    return object.__new__(cls)


_BUILTIN_GLOBALS = {("__builtin__", "set"): set, ("builtins", "set"): set, ("__builtin__", "object"): object,
                    ("builtins", "object"): object, ("copy_reg", "_reconstructor"): _reconstructor,
                    ("copyreg", "_reconstructor"): _reconstructor}


class _SMPLUnpickler(RestrictedUnpickler):
    """Resolves only the globals listed in the module docstring; refuses everything else."""

    allowed = {**_STAND_INS, **_BUILTIN_GLOBALS, **CODECS_GLOBALS}

    def refusal(self, module: str, name: str) -> Exception:
        return SMPLModelError(
            f"refusing to load {module}.{name} from the SMPL pickle: an SMPL model holds only numpy arrays, chumpy "
            "arrays and scipy sparse matrices, so this file is not a genuine SMPL model (or was re-saved with other "
            f"objects). Download the model again from {SMPL_DOWNLOAD_URL}.")

    def persistent_load(self, pid: object) -> object:
        raise SMPLModelError("refusing a persistent id in the SMPL pickle; genuine SMPL files have none.")


def _int_array(value: object, key: str, what: str) -> np.ndarray:
    array = _to_array(value, key)
    if array.dtype.kind not in "iub" and array.size:
        raise SMPLModelError(f"SMPL key {key!r}: {what} has dtype {array.dtype}, not integers.")
    return array.astype(np.int64).ravel()


def _sparse_to_dense(state: dict, key: str) -> np.ndarray:
    """The dense (rows, cols) array of a pickled CSC matrix, after checking its index arrays."""
    shape = state.get("_shape", state.get("shape"))
    if not isinstance(shape, tuple) or len(shape) != 2 or not all(type(n) is int and n >= 0 for n in shape):
        raise SMPLModelError(f"SMPL key {key!r}: sparse matrix shape {shape!r:.60} is not two non-negative ints.")
    rows, cols = shape
    data = _to_array(state["data"], key).ravel()
    indices = _int_array(state["indices"], key, "the sparse row indices")
    indptr = _int_array(state["indptr"], key, "the sparse column pointers")
    if rows * cols * data.dtype.itemsize > MAX_ARRAY_BYTES:
        raise SMPLModelError(f"SMPL key {key!r}: a {rows} x {cols} sparse matrix is too large to be SMPL's.")
    if (len(indptr) != cols + 1 or indptr[0] != 0 or indptr[-1] != len(data) or len(indices) != len(data)
            or np.any(np.diff(indptr) < 0) or (len(indices) and (indices.min() < 0 or indices.max() >= rows))):
        raise SMPLModelError(f"SMPL key {key!r}: the sparse matrix's indices do not fit its {rows} x {cols} shape "
                             f"({len(data)} values, {len(indices)} row indices, {len(indptr)} column pointers).")
    dense = np.zeros((rows, cols), dtype=data.dtype)
    np.add.at(dense, (indices, np.repeat(np.arange(cols), np.diff(indptr))), data)
    return dense


def _to_array(value: object, key: str, depth: int = 0) -> np.ndarray:
    """A numpy array from an unpickled value: a recorded array, or a chumpy / sparse stand-in."""
    if depth > 4:
        raise SMPLModelError(f"SMPL key {key!r} nests chumpy objects too deeply to be a plain array.")
    try:
        value = materialise(value)
    except UnsafePickleError as error:
        raise SMPLModelError(f"SMPL key {key!r}: {error}") from error
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    state = getattr(value, "state", None)
    if not isinstance(state, dict):
        raise SMPLModelError(f"SMPL key {key!r} holds {type(value).__name__}, not an array.")
    if isinstance(value, _ChumpyCh) and "x" in state:
        return _to_array(state["x"], key, depth + 1)
    if isinstance(value, _ChumpySelect) and {"a", "idxs"} <= set(state):
        source = _to_array(state["a"], key, depth + 1).ravel()
        idxs = _int_array(state["idxs"], key, "Select.idxs")
        if len(idxs) and (idxs.min() < -len(source) or idxs.max() >= len(source)):
            raise SMPLModelError(f"SMPL key {key!r}: Select indexes {int(idxs.max())} of {len(source)} values.")
        selected = source[idxs]
        shape = state.get("preferred_shape")
        if shape is None:
            return selected
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else tuple(_to_array(shape, key, depth + 1).ravel())
        shape = tuple(int(n) if isinstance(n, np.integer) else n for n in shape)
        if not all(type(n) is int and n >= 0 for n in shape) or int(np.prod(shape)) != selected.size:
            raise SMPLModelError(f"SMPL key {key!r}: Select's preferred_shape {shape!r:.60} does not hold its "
                                 f"{selected.size} values.")
        return selected.reshape(shape)
    if isinstance(value, _SparseCSC) and {"data", "indices", "indptr"} <= set(state):
        return _sparse_to_dense(state, key)
    raise SMPLModelError(f"SMPL key {key!r}: a pickled {type(value).__name__} without the expected fields "
                         f"(has {sorted(map(str, state))[:6]}).")


def read_smpl_pickle(source: str | Path | bytes) -> dict[str, np.ndarray]:
    """The SMPL arrays (``SMPL_KEYS``) of an official ``.pkl`` (path or bytes); no pickled code runs.

    >>> try:
    ...     read_smpl_pickle(pickle.dumps({"v_template": print}))
    ... except SMPLModelError as error:
    ...     print(str(error).split(":")[0])
    refusing to load builtins.print from the SMPL pickle
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        content = _SMPLUnpickler(io.BytesIO(data), encoding="latin1").load()
    except SMPLModelError:
        raise
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, ImportError, IndexError,
            KeyError, MemoryError, OverflowError, RecursionError) as error:
        raise SMPLModelError(f"the SMPL pickle is corrupt or not an SMPL model ({error}); download it again "
                             f"from {SMPL_DOWNLOAD_URL}.") from error
    if not isinstance(content, dict):
        raise SMPLModelError(f"an SMPL pickle holds a dict of arrays, this one a {type(content).__name__}.")
    missing = [key for key in SMPL_KEYS if key not in content]
    if missing:
        raise SMPLModelError(f"the SMPL pickle lacks {missing} (has {sorted(map(str, content))}); is it an SMPL "
                             "body model rather than SMPL-X, SMPL-H or MANO?")
    arrays = {}
    for key in SMPL_KEYS:
        try:
            arrays[key] = _to_array(content[key], key)
        except SMPLModelError:
            raise
        except (IndexError, ValueError, TypeError, MemoryError, OverflowError, RecursionError) as error:
            raise SMPLModelError(f"SMPL key {key!r} cannot be rebuilt as an array ({type(error).__name__}: "
                                 f"{error}); the file is damaged, download it again from {SMPL_DOWNLOAD_URL}."
                                 ) from error
    return arrays


def validate_smpl_arrays(arrays: dict[str, np.ndarray], source: str) -> dict[str, np.ndarray]:
    """Check every SMPL array's shape and values; returns them as float64 / int64 arrays.

    v_template (6890, 3) metres, y up; shapedirs (6890, 3, B); posedirs (6890, 3, 207);
    J_regressor (24, 6890); weights (6890, 24); kintree_table (2, 24) with SMPL's parents;
    f (F, 3) vertex indices.
    """
    missing = [key for key in SMPL_KEYS if key not in arrays]
    if missing:
        raise SMPLModelError(f"{source} lacks the SMPL arrays {missing}; is it an SMPL body model file?")
    out = {key: np.asarray(arrays[key]) for key in SMPL_KEYS}
    num_vertices = out["v_template"].shape[0] if out["v_template"].ndim == 2 else -1
    if num_vertices != NUM_VERTICES:
        raise SMPLModelError(f"{source}: v_template is {out['v_template'].shape}; SMPL has ({NUM_VERTICES}, 3). "
                             "SMPL-X, SMPL-H and MANO files do not fit the SMPL body nodes.")
    num_betas = out["shapedirs"].shape[-1] if out["shapedirs"].ndim == 3 else 0
    expected = {"v_template": (NUM_VERTICES, 3), "shapedirs": (NUM_VERTICES, 3, max(num_betas, 1)),
                "posedirs": (NUM_VERTICES, 3, NUM_POSE_BASIS), "J_regressor": (NUM_JOINTS, NUM_VERTICES),
                "weights": (NUM_VERTICES, NUM_JOINTS), "kintree_table": (2, NUM_JOINTS)}
    for key, shape in expected.items():
        if out[key].shape != shape:
            raise SMPLModelError(f"{source}: {key} has shape {out[key].shape}, SMPL needs {shape}.")
        if out[key].dtype.kind not in "fiu":
            raise SMPLModelError(f"{source}: {key} has dtype {out[key].dtype}, SMPL needs numbers.")
    for key in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights"):
        out[key] = out[key].astype(np.float64)
        if not np.isfinite(out[key]).all():
            raise SMPLModelError(f"{source}: {key} contains NaN or infinite values; the file is damaged.")
    out["kintree_table"] = out["kintree_table"].astype(np.int64)
    if tuple(out["kintree_table"][0, 1:]) != PARENTS[1:]:
        raise SMPLModelError(f"{source}: kintree_table parents {out['kintree_table'][0].tolist()} are not SMPL's "
                             f"{list(PARENTS)}.")
    faces = out["f"]
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.dtype.kind not in "iu" or len(faces) == 0:
        raise SMPLModelError(f"{source}: f must be (F, 3) vertex indices, got {faces.shape} {faces.dtype}.")
    if faces.min() < 0 or faces.max() >= NUM_VERTICES:
        raise SMPLModelError(f"{source}: f indexes vertex {int(faces.max())}, beyond the {NUM_VERTICES} vertices.")
    out["f"] = faces.astype(np.int64)
    return out


def read_smpl_model(path: str | Path) -> dict[str, np.ndarray]:
    """Validated SMPL arrays from a ``.npz`` (no pickles allowed) or an official ``.pkl``."""
    src = Path(path)
    if not src.is_file():
        raise SMPLModelError(f"SMPL model file {src} does not exist; check the path (SMPL files come from "
                             f"{SMPL_DOWNLOAD_URL} after registration).")
    if src.suffix.lower() == ".npz":
        try:
            with np.load(src, allow_pickle=False) as data:
                arrays = {key: data[key] for key in SMPL_KEYS if key in data.files}
        except ValueError as error:  # object arrays need pickle: refused
            raise SMPLModelError(f"{src} stores Python objects or is no .npz ({error}); convert the official .pkl "
                                 "with python -m choreo.io.smpl_model_files instead.") from error
        except (OSError, zipfile.BadZipFile) as error:
            raise SMPLModelError(f"{src} is damaged ({error}); download or convert it again.") from error
    elif src.suffix.lower() == ".pkl":
        try:
            arrays = read_smpl_pickle(src)
        except SMPLModelError as error:
            raise SMPLModelError(f"{src}: {error}") from error
    else:
        raise SMPLModelError(f"{src} is neither .npz nor .pkl; SMPL models come as one of those.")
    return validate_smpl_arrays(arrays, str(src))


def convert_smpl_pickle(pkl_path: str | Path, npz_path: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write the SMPL arrays of an official ``.pkl`` as a pickle-free ``.npz``; returns its path.

    Without ``npz_path`` the file goes beside the input as ``SMPL_<GENDER>.npz`` (smplx's naming).
    An existing output is replaced only with ``overwrite=True``.
    """
    src = Path(pkl_path)
    arrays = read_smpl_model(src)
    if npz_path is None:
        npz_path = src.with_name(f"SMPL_{smpl_gender(src.name).upper()}.npz")
    if Path(npz_path).exists() and not overwrite:
        raise SMPLModelError(f"{npz_path} already exists; delete it, choose another output name, or pass "
                             "overwrite=True (--overwrite on the command line) to replace it.")
    return save_npz_atomic(npz_path, **arrays)


def smpl_gender(file_name: str) -> str:
    """The gender ("neutral", "male" or "female") an SMPL file name declares (official or smplx naming)."""
    match = _MODEL_NAME.match(Path(file_name).name)
    if match is None:
        raise SMPLModelError(f"{file_name!r} is not an SMPL model file name; expected SMPL_NEUTRAL.npz / .pkl, "
                             "SMPL_MALE…, SMPL_FEMALE… or the official basicModel_*_lbs_10_207_0_v1.*.pkl.")
    return _GENDER_CODES[(match.group(1) or match.group(2)).lower()]


def find_smpl_model_files(folders: list[Path]) -> dict[str, Path]:
    """Display name (path relative to its folder, '/'-separated) -> file, for every SMPL model file found.

    Sub-folders are searched ``MAX_SEARCH_DEPTH`` levels deep; files with other names (other packs
    share ``models/smpl``) are skipped. The first folder wins on equal names.
    """
    found: dict[str, Path] = {}
    for folder in folders:
        if not folder.is_dir():
            continue
        for root, dirs, files in os.walk(folder):
            depth = len(Path(root).relative_to(folder).parts)
            if depth >= MAX_SEARCH_DEPTH:
                dirs.clear()
            dirs.sort()
            for name in sorted(files):
                if _MODEL_NAME.match(name):
                    path = Path(root) / name
                    found.setdefault(path.relative_to(folder).as_posix(), path)
    return dict(sorted(found.items()))


def missing_models_help(folders: list[Path]) -> str:
    """What to download and where to put it, for error messages."""
    where = ", ".join(str(folder) for folder in folders) or "ComfyUI/models/smpl"
    return (f"SMPL is licence-gated and not shipped with Choreo: register at {SMPL_DOWNLOAD_URL}, accept the "
            "licence, download 'SMPL for Python' (basicModel_neutral_lbs_10_207_0_v1.0.0.pkl and/or "
            "basicmodel_m/f_lbs_10_207_0_v1.1.0.pkl; SMPL_NEUTRAL.pkl / SMPL_MALE.npz … also work) and put the "
            f"files in {where}, then refresh.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m choreo.io.smpl_model_files",
                                     description="Convert an official SMPL .pkl to a pickle-free .npz (no chumpy, "
                                                 "no pickled code run).")
    parser.add_argument("pkl", type=Path, help="official SMPL pickle, e.g. basicModel_neutral_lbs_10_207_0_v1.0.0.pkl")
    parser.add_argument("npz", type=Path, nargs="?", help="output .npz (default: SMPL_<GENDER>.npz beside the input)")
    parser.add_argument("--overwrite", action="store_true", help="replace the output .npz if it already exists")
    args = parser.parse_args(argv)
    try:
        out = convert_smpl_pickle(args.pkl, args.npz, overwrite=args.overwrite)
    except ChoreoError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

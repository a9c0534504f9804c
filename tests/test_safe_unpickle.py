"""Untrusted pickles: numpy never receives pickled state; crafted dtypes fail cleanly instead of crashing."""

import io
import pickle
import codecs
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from choreo.errors import MotionInputError
from choreo.io.mesh_files import load_body_mesh_npz
from choreo.io.safe_unpickle import ByteBudget, RestrictedUnpickler, UnsafePickleError, materialise
from choreo.io.smpl_model_files import SMPL_KEYS, SMPLModelError, convert_smpl_pickle, main, read_smpl_pickle

REPO = Path(__file__).resolve().parents[1]


def _unicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _short_bytes(data: bytes) -> bytes:
    return b"C" + bytes([len(data)]) + data


def _int1(n: int) -> bytes:
    return b"K" + bytes([n])


def _int4(n: int) -> bytes:
    return b"J" + struct.pack("<i", n)


def crafted_dtype_pickle(module: str = "numpy.core.multiarray") -> bytes:
    """The reviewer's 285-byte payload: a V8 dtype declaring an object field, an array of b"A" * 8 with it,
    then the dtype re-BUILT with object flags (27), so freeing the array Py_DECREFs 0x4141414141414141."""
    dtype = b"cnumpy\ndtype\n"

    def object_dtype() -> bytes:
        return (dtype + _unicode("O8") + b"\x89\x88\x87R" + b"(" + _int1(3) + _unicode("|") + b"NNN" + _int4(-1)
                + _int4(-1) + _int1(63) + b"tb")

    def void_state(flags: int) -> bytes:
        return (b"(" + _int1(3) + _unicode("|") + b"N" + _unicode("a") + b"\x85" + b"}" + _unicode("a")
                + object_dtype() + _int1(0) + b"\x86s" + _int1(8) + _int1(1) + _int1(flags) + b"t")

    payload = b"\x80\x02" + dtype + _unicode("V8") + b"\x89\x88\x87R" + b"q\x00" + void_state(0) + b"b0"
    payload += (f"c{module}\n_reconstruct\n".encode() + b"cnumpy\nndarray\n" + _int1(0) + b"\x85"
                + _short_bytes(b"b") + b"\x87R")
    payload += b"(" + _int1(1) + _int1(1) + b"\x85" + b"h\x00" + b"\x89" + _short_bytes(b"A" * 8) + b"tb"
    payload += b"h\x00" + void_state(27) + b"b0" + b"."
    return payload


def _dict_of(key: str, value_pickle: bytes) -> bytes:
    """A protocol-2 pickle {key: <value>} around a value's opcodes (no PROTO / STOP)."""
    return b"\x80\x02}" + _unicode(key) + value_pickle + b"s."


def _run_isolated(code: str, tmp_path: Path, payload: bytes) -> subprocess.CompletedProcess:
    """Run ``code`` (with ``PATH`` the payload file) in a fresh interpreter: a crash fails the test, not pytest."""
    path = tmp_path / "payload.pkl"
    path.write_bytes(payload)
    script = f"from pathlib import Path\nPATH = Path({str(path)!r})\n" + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_crafted_payload_is_refused_where_it_rebuilds_the_dtype(module):
    """The attack's last step, BUILDing the dtype again after an array uses it, is refused by the stand-ins."""
    with pytest.raises(UnsafePickleError, match="sets the state of one RecordedDtype twice"):
        _load(crafted_dtype_pickle(module))


@pytest.mark.parametrize("module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_crafted_dtype_smpl_pickle_fails_cleanly_in_a_subprocess(tmp_path, module):
    result = _run_isolated("""
        from choreo.io.smpl_model_files import SMPLModelError, read_smpl_pickle
        try:
            read_smpl_pickle(PATH.read_bytes())
        except SMPLModelError as error:
            print("SMPLModelError:", error)
        """, tmp_path, crafted_dtype_pickle(module))
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "SMPLModelError" in result.stdout


def test_crafted_dtype_aistpp_pickle_fails_cleanly_in_a_subprocess(tmp_path):
    payload = _dict_of("keypoints2d", crafted_dtype_pickle()[2:-1])
    result = _run_isolated("""
        import gc
        from choreo.datasets.aistpp import UnsafePickleError, restricted_load
        try:
            restricted_load(PATH)
        except UnsafePickleError as error:
            print("UnsafePickleError:", error)
        gc.collect()
        """, tmp_path, payload)
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "UnsafePickleError" in result.stdout


def test_crafted_dtype_in_edge_normalizer_fails_cleanly_in_a_subprocess(tmp_path):
    pytest.importorskip("torch")
    result = _run_isolated("""
        import gc, io, pickle, zipfile
        import torch
        from choreo.checkpoints import CheckpointError
        from choreo.generators.edge_checkpoint import convert_edge_checkpoint

        # torch.save's zip layout, with the reviewer's array as the normaliser's scaler.min_
        evil = PATH.read_bytes()[2:-1]
        def u(text):
            data = text.encode()
            return b"X" + len(data).to_bytes(4, "little") + data
        body = (b"\\x80\\x02}" + u("ema_state_dict") + b"}" + u("normalizer")
                + b"cdataset.preprocess\\nNormalizer\\n)\\x81}" + u("scaler")
                + b"cdataset.scaler\\nMinMaxScaler\\n)\\x81}" + u("min_") + evil + u("scale_") + evil
                + b"sbsbs.")
        checkpoint = PATH.with_suffix(".pt")
        with zipfile.ZipFile(checkpoint, "w") as archive:
            archive.writestr("archive/data.pkl", body)
            archive.writestr("archive/byteorder", "little")
            archive.writestr("archive/version", "3\\n")
        try:
            convert_edge_checkpoint(checkpoint, PATH.parent / "out")
        except CheckpointError as error:
            print("CheckpointError:", error)
        gc.collect()
        """, tmp_path, crafted_dtype_pickle())
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert "CheckpointError" in result.stdout
    assert not (tmp_path / "out").exists()


def _load(payload: bytes):
    return materialise(RestrictedUnpickler(io.BytesIO(payload), encoding="latin1").load())


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_plain_arrays_and_scalars_round_trip(protocol):
    arrays = {"f": np.arange(12.0).reshape(3, 4), "fortran": np.asfortranarray(np.arange(6, dtype=">i4").reshape(2, 3)),
              "u1": np.array([1, 255], np.uint8), "b": np.array([True, False]), "h": np.float16([1.5]),
              "empty": np.zeros((0, 3), np.float32), "scalar": np.float64(2.5), "list": [np.int8(3), np.ones(2)]}
    loaded = _load(pickle.dumps(arrays, protocol=protocol))
    for key in ("f", "fortran", "u1", "b", "h", "empty"):
        np.testing.assert_array_equal(loaded[key], arrays[key], err_msg=key)
        assert loaded[key].dtype == arrays[key].dtype and loaded[key].flags.writeable
    assert loaded["scalar"] == 2.5 and loaded["list"][0] == 3


def test_many_references_to_one_array_share_one_converted_copy():
    one_mib = np.arange(2**17, dtype=np.float64)
    payload = pickle.dumps([one_mib] * 200, protocol=2)  # the pickle memo holds the array once
    tracemalloc.start()
    try:
        loaded = _load(payload)
        _, peak_bytes = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(loaded) == 200 and all(item is loaded[0] for item in loaded)
    np.testing.assert_array_equal(loaded[0], one_mib)
    assert peak_bytes < 16 * 2**20  # one array and the pickle's data, not 200 MiB of copies


def test_a_shared_tuple_is_converted_for_every_reference():
    shared = (np.ones(2), "label")
    loaded = _load(pickle.dumps({"a": shared, "b": [shared]}, protocol=2))
    assert loaded["a"] is loaded["b"][0]
    assert isinstance(loaded["b"][0][0], np.ndarray) and loaded["b"][0][1] == "label"
    np.testing.assert_array_equal(loaded["b"][0][0], [1.0, 1.0])


class _SharesData:
    """A distinct pickled array each time, all naming one memoised bytes object as their data."""

    def __init__(self, raw: bytes):
        self.raw = raw

    def __reduce__(self):
        reconstruct, args, _ = np.zeros(1).__reduce__()
        return reconstruct, args, (1, (len(self.raw) // 8,), np.dtype("<f8"), False, self.raw)


def test_arrays_sharing_one_data_string_are_refused_past_the_load_budget():
    payload = pickle.dumps([_SharesData(bytes(2**20)) for _ in range(64)], protocol=4)  # ~1 MiB -> 64 MiB
    unpickler = RestrictedUnpickler(io.BytesIO(payload), max_total_bytes=16 * 2**20)
    with pytest.raises(UnsafePickleError, match="budget"):
        materialise(unpickler.load(), unpickler.budget)
    within = RestrictedUnpickler(io.BytesIO(payload), max_total_bytes=64 * 2**20)
    assert len(materialise(within.load(), within.budget)) == 64


def test_a_budget_is_charged_once_per_recorded_array_not_per_reference():
    one_kib = np.zeros(128)
    assert len(materialise(_record([one_kib, one_kib]), ByteBudget(1500))) == 2  # one array, referenced twice
    with pytest.raises(UnsafePickleError, match="1500-byte budget"):
        materialise(_record([one_kib, one_kib.copy()]), ByteBudget(1500))


def _record(value: object) -> object:
    return RestrictedUnpickler(io.BytesIO(pickle.dumps(value, protocol=2))).load()


class _EncodesText:
    def __init__(self, text: str):
        self.text = text

    def __reduce__(self):
        return codecs.encode, (self.text, "latin1")


def test_repeated_latin1_encodes_of_one_string_are_charged_to_the_budget():
    payload = pickle.dumps([_EncodesText("x" * 2**20) for _ in range(64)], protocol=2)
    with pytest.raises(UnsafePickleError, match="byte string.*budget"):
        RestrictedUnpickler(io.BytesIO(payload), max_total_bytes=16 * 2**20).load()


@pytest.mark.parametrize("value, message", [
    (np.array(["ab"]), "dtype 'U2'"),
    (np.array([b"ab"]), "dtype 'S2'"),
    (np.array([1, "x"], dtype=object), "dtype 'O8'"),
    (np.zeros(2, dtype=[("a", "f4")]), "dtype 'V4'"),
    (np.array([1 + 2j]), "dtype 'c16'"),
    (np.zeros(1, dtype="datetime64[s]"), "dtype 'M8'"),
])
def test_non_plain_dtypes_are_refused(value, message):
    with pytest.raises(UnsafePickleError, match=message):
        _load(pickle.dumps(value, protocol=2))


def test_wrong_byte_count_and_huge_shapes_are_refused():
    good = pickle.dumps(np.arange(4.0), protocol=3)  # unframed
    raw = np.arange(4.0).tobytes()
    assert b"C" + bytes([len(raw)]) + raw in good  # SHORT_BINBYTES: length byte, then the data
    short = good.replace(b"C" + bytes([len(raw)]) + raw, b"C" + bytes([len(raw) - 8]) + raw[:-8])
    with pytest.raises(UnsafePickleError, match="holds 24 bytes, its shape and dtype need 32"):
        _load(short)
    assert b"K\x04\x85" in good
    huge = good.replace(b"K\x04\x85", b"J" + struct.pack("<i", 2**30) + b"\x85")
    with pytest.raises(UnsafePickleError, match="more than"):
        _load(huge)


def test_object_flags_on_a_numeric_dtype_are_refused():
    payload = pickle.dumps(np.arange(2.0), protocol=2).replace(b"J\xff\xff\xff\xffK\x00t", b"J\xff\xff\xff\xffK?t")
    assert payload != pickle.dumps(np.arange(2.0), protocol=2)
    with pytest.raises(UnsafePickleError, match="flags"):
        _load(payload)


def test_numpy_callables_are_never_resolved():
    class CallsNumpy:
        def __reduce__(self):
            return np.ndarray, ((2,),)

    with pytest.raises(UnsafePickleError, match="numpy.ndarray"):
        _load(pickle.dumps(CallsNumpy(), protocol=2))
    with pytest.raises(UnsafePickleError, match="refusing to unpickle numpy.frombuffer"):
        _load(pickle.dumps(np.frombuffer, protocol=2))


def test_malformed_sparse_and_select_state_become_smpl_errors(monkeypatch):
    import types

    def smpl_pickle(**override) -> bytes:
        csc = type("csc_matrix", (), {})
        csc.__module__ = "scipy.sparse._csc"
        matrix = csc()
        matrix.__dict__.update(data=np.ones(2), indices=np.array([0, 1]), indptr=np.array([0, 1, 2]), _shape=(2, 2))
        matrix.__dict__.update(override)
        module = types.ModuleType("scipy.sparse._csc")
        module.csc_matrix = csc
        monkeypatch.setitem(sys.modules, "scipy.sparse._csc", module)
        content = {key: np.zeros(1) for key in SMPL_KEYS} | {"J_regressor": matrix}
        return pickle.dumps(content, protocol=2)

    assert read_smpl_pickle(smpl_pickle())["J_regressor"].tolist() == [[1.0, 0.0], [0.0, 1.0]]
    for override in ({"indices": np.array([0, 7])}, {"indptr": np.array([0, 2])}, {"indptr": np.array([0, 1, 5])},
                     {"indices": np.array([0])}, {"_shape": (2, -1)}, {"data": np.array(["x", "y"])}):
        with pytest.raises(SMPLModelError, match="J_regressor"):
            read_smpl_pickle(smpl_pickle(**override))


def test_converter_refuses_to_overwrite_without_the_flag(tmp_path, monkeypatch, capsys):
    arrays = {key: np.zeros(1) for key in SMPL_KEYS}
    monkeypatch.setattr("choreo.io.smpl_model_files.read_smpl_model", lambda path: arrays)
    source = tmp_path / "basicModel_neutral_lbs_10_207_0_v1.0.0.pkl"
    source.write_bytes(b"")
    existing = tmp_path / "SMPL_NEUTRAL.npz"
    existing.write_bytes(b"keep me")
    with pytest.raises(SMPLModelError, match="already exists.*overwrite"):
        convert_smpl_pickle(source)
    assert existing.read_bytes() == b"keep me"
    assert main([str(source)]) == 2 and "--overwrite" in capsys.readouterr().err
    assert main([str(source), "--overwrite"]) == 0
    with np.load(existing, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(SMPL_KEYS)


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04broken"])
def test_corrupt_mesh_npz_names_the_file(tmp_path, content):
    path = tmp_path / "mesh.npz"
    path.write_bytes(content)
    with pytest.raises(MotionInputError, match="mesh.npz is damaged"):
        load_body_mesh_npz(path)


def test_truncated_mesh_npz_names_the_file(tmp_path):
    path = tmp_path / "mesh.npz"
    np.savez(path, vertices=np.zeros((1, 3, 3)))
    path.write_bytes(path.read_bytes()[:60])
    with pytest.raises(MotionInputError, match="mesh.npz"):
        load_body_mesh_npz(path)

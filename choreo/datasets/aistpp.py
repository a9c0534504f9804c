"""AIST++ motion pickles and their music, converted the way EDGE preprocesses them.

A motion file ``<genre>_<situation>_<camera>_<dancer>_<music id>_<choreography>.pkl`` (e.g.
``gBR_sBM_cAll_d04_mBR0_ch02.pkl``) holds ``smpl_poses`` (T, 72) axis-angle radians, y up,
``smpl_trans`` (T, 3) in AIST++'s scaled units, ``smpl_scaling`` (1,) and sometimes ``smpl_loss``,
at 60 fps. EDGE's conversion (models.md 1.2), reproduced here:

1. translation divided by ``smpl_scaling`` (-> metres);
2. y-up -> z-up: +90 degrees about x applied to the root orientation and translation;
3. 60 -> 30 fps by keeping every second frame.

The music is ``<root>/wavs/<music id>.wav`` (the id is the ``m..`` token of the name). Pickles are
read with ``restricted_load``, which rebuilds builtin containers and plain numeric numpy arrays
(through ``choreo.io.safe_unpickle``, never handing pickled state to numpy) and refuses every other
global, so a hostile file cannot run code.
"""

from __future__ import annotations

import io
import pickle
import re
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ..errors import MotionInputError
from ..io.safe_unpickle import CODECS_GLOBALS, PlainBytearray, RestrictedUnpickler, UnsafePickleError, materialise
from ..motion.motion3d import Motion3D
from ..music.features import MusicFeatures, extract_music_features
from .clips import DanceClip

SOURCE_FPS = 60.0
# AIST++ genre codes in the order of the dataset paper (index = genre id).
GENRES: tuple[str, ...] = ("gBR", "gPO", "gLO", "gMH", "gLH", "gHO", "gWA", "gKR", "gJS", "gJB")
_MUSIC_ID = re.compile(r"(?:^|_)(m[A-Z]{2}\d)(?:_|$)")

# The only globals a motion pickle may name besides numpy's array reconstruction (``safe_unpickle``).
_ALLOWED_GLOBALS = {
    ("builtins", "dict"): dict, ("builtins", "list"): list, ("builtins", "tuple"): tuple, ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): PlainBytearray, ("__builtin__", "bytearray"): PlainBytearray,  # of bytes, not a size
    ("collections", "OrderedDict"): OrderedDict,
    **CODECS_GLOBALS,  # protocol-2 pickles spell array bytes as codecs.encode(str, "latin1")
}


class _ArrayOnlyUnpickler(RestrictedUnpickler):
    allowed = _ALLOWED_GLOBALS

    def refusal(self, module: str, name: str) -> Exception:
        return UnsafePickleError(
            f"refusing to unpickle {module}.{name}: Choreo reads dataset pickles that hold only numpy arrays "
            "and builtin containers. Convert the file to .npz if it is trusted.")


def restricted_load(source: str | Path | bytes):
    """Unpickle ``source`` (a path or the bytes) allowing only plain numeric numpy arrays and builtin containers.

    Arrays are rebuilt by ``safe_unpickle`` (numpy never sees pickled state), within one byte budget for the
    whole file; anything else, or a damaged file, raises ``UnsafePickleError`` naming the file.

    >>> restricted_load(pickle.dumps({"a": np.zeros(2)}))["a"].shape
    (2,)
    """
    name = "the pickle" if isinstance(source, bytes) else str(source)
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    try:
        unpickler = _ArrayOnlyUnpickler(io.BytesIO(data), encoding="latin1")
        return materialise(unpickler.load(), unpickler.budget)
    except UnsafePickleError as error:
        raise UnsafePickleError(f"{name}: {error}") from error
    except (pickle.UnpicklingError, EOFError, TypeError, ValueError, AttributeError, IndexError, KeyError,
            MemoryError, OverflowError, RecursionError) as error:
        raise UnsafePickleError(f"{name} is damaged or not a dataset pickle ({type(error).__name__}: {error}); "
                                "download it again.") from error


def music_id(name: str) -> str:
    """The AIST++ music id (e.g. ``mBR0``) in a motion file name."""
    match = _MUSIC_ID.search(Path(name).stem)
    if match is None:
        raise MotionInputError(f"{name!r} is not an AIST++ motion name: it lacks a music id such as '_mBR0_'.")
    return match.group(1)


def genre_index(name: str) -> int:
    """Index in ``GENRES`` of the genre code that starts an AIST++ name (0 when it is not one)."""
    code = Path(name).stem[:3]
    return GENRES.index(code) if code in GENRES else 0


def motion_from_aistpp(data: dict, source_fps: float = SOURCE_FPS, fps: float = 30.0) -> Motion3D:
    """EDGE's conversion of one AIST++ motion dict to a z-up Motion3D at ``fps``.

    data : {smpl_poses (T, 72), smpl_trans (T, 3), smpl_scaling (1,) or scalar}.
    """
    for key in ("smpl_poses", "smpl_trans", "smpl_scaling"):
        if key not in data:
            raise MotionInputError(f"AIST++ motion lacks {key!r} (keys: {sorted(data)}).")
    stride = source_fps / fps  # frames of the source per output frame
    if abs(stride - round(stride)) > 1e-9 or round(stride) < 1:
        raise MotionInputError(f"cannot resample {source_fps:g} fps to {fps:g} fps by dropping frames; "
                               "choose an fps that divides the source rate (30 for AIST++).")
    scaling = float(np.asarray(data["smpl_scaling"], np.float64).reshape(-1)[0])
    if not scaling > 0:
        raise MotionInputError(f"AIST++ smpl_scaling must be positive, got {scaling}.")
    step = int(round(stride))
    poses = np.asarray(data["smpl_poses"], np.float64)[::step]
    trans_m = np.asarray(data["smpl_trans"], np.float64)[::step] / scaling
    return Motion3D.from_smpl(poses, trans_m, fps=fps, y_up=True)


def load_aistpp_motion(path: str | Path, fps: float = 30.0) -> Motion3D:
    """Read and convert one AIST++ motion pickle (see the module docstring)."""
    data = restricted_load(path)
    if not isinstance(data, dict):
        raise MotionInputError(f"{path}: an AIST++ motion pickle holds a dict, got {type(data).__name__}.")
    return motion_from_aistpp(data, fps=fps)


def load_aistpp(root: str | Path, fps: float = 30.0, extractor: str = "edge_librosa",
                limit: int | None = None) -> list[DanceClip]:
    """Clips of an AIST++ folder with ``motions/*.pkl`` and ``wavs/*.wav`` (EDGE's layout).

    Motions whose music file is missing are an error naming the file, so a half-copied
    dataset does not train silently on less data.
    """
    from ..io.audio_files import load_audio

    root = Path(root)
    motions = sorted((root / "motions").glob("*.pkl"))
    if not motions:
        raise MotionInputError(f"no AIST++ motions in {root / 'motions'}; expected <root>/motions/*.pkl and "
                               "<root>/wavs/*.wav.")
    clips = []
    features_by_music: dict[str, MusicFeatures] = {}
    for path in motions[:limit]:
        music = music_id(path.name)
        wav = root / "wavs" / f"{music}.wav"
        if not wav.is_file():
            raise MotionInputError(f"{path.name} dances to {music} but {wav} is missing; copy AIST++'s wavs folder.")
        if music not in features_by_music:
            features_by_music[music] = extract_music_features(load_audio(wav), fps=fps, extractor=extractor)
        clips.append(DanceClip(path.stem, load_aistpp_motion(path, fps), features_by_music[music],
                               genre_index(path.name)))
    return clips

"""Hand edits of pose sequences: the keyframe document, applying it, regenerating around it, the pose library."""

from .apply import apply_edits
from .fingerprint import edits_are_stale, fingerprint
from .keyframes import EASES, EditDocument, Keyframe, dump_edit_document, parse_edit_document
from .pose_library import LibraryPose, PoseExistsError, PoseLibrary, PoseNotFoundError
from .regenerate import MODES, keep_mask, regenerate_around_edits

__all__ = ["apply_edits", "edits_are_stale", "fingerprint", "EASES", "EditDocument", "Keyframe",
           "dump_edit_document", "parse_edit_document", "LibraryPose", "PoseExistsError", "PoseLibrary",
           "PoseNotFoundError", "MODES", "keep_mask", "regenerate_around_edits"]

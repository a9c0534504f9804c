"""Exceptions raised at the pack's boundaries.

Every message names the input, the value seen and what the user can do about it,
so the same text reads well in a ComfyUI error dialog and on a terminal.
"""


class ChoreoError(ValueError):
    """Base class: a user-facing problem with an input, never a bug in the pack."""


class AudioInputError(ChoreoError):
    """The audio cannot be analysed (empty, silent, corrupt, too long, wrong layout)."""


class PoseInputError(ChoreoError):
    """A pose input (POSE_KEYPOINT, JSON file, reference pose) is malformed or empty."""


class ImageInputError(ChoreoError):
    """An image input has the wrong shape, size or content."""


class MotionInputError(ChoreoError):
    """A 3D motion input has the wrong layout or length."""

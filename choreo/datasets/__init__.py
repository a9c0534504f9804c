"""Training data for the learned Motion Experts: real dance datasets, a synthetic source, and 5 s windows.

Every source yields ``DanceClip`` values (a ``Motion3D`` on a 30 fps clock, the music as
``MusicFeatures`` on the same clock, and a genre index); ``windows.make_windows`` cuts them into
EDGE's training slices and fits the min-max normaliser.

- ``aistpp``    : AIST++ SMPL pickles (read with a restricted unpickler) + wav files.
- ``finedance`` : FineDance motion ``.npy`` files (SMPL-H 52-joint 6D, body joints kept) + wav files.
- ``synthetic`` : the beat choreographer dancing to synthetic click/drum songs (no data needed).

``dance_engine`` builds training folders for both trainers (FineDance-layout 3D dances and X-Dancer
pose datasets) from the beat choreographer dancing to real music, with seeded variety (``dance_variety``).

``music_corpus`` is separate: a beat / downbeat / meter / tempo corpus for music analysis, built
from composed MIDI songs and Debian-packaged MIDI rendered with fluidsynth (``midi_*`` modules).
"""

from .clips import DanceClip, check_clip
from .windows import WindowSet, make_windows

__all__ = ["DanceClip", "check_clip", "WindowSet", "make_windows"]

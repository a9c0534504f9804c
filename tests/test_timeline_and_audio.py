"""The frame clock and the audio boundary checks."""

import numpy as np
import pytest

from choreo.errors import AudioInputError
from choreo.music.audio import Audio
from choreo.timeline import frame_times_s, num_frames_for, times_to_frames


def test_frame_count_never_outlasts_the_audio():
    assert num_frames_for(10.0, 30.0) == 300
    assert num_frames_for(10.02, 30.0) == 300
    assert num_frames_for(1 / 3, 30.0) == 10  # exact multiple despite float error
    for duration in np.linspace(1.0, 20.0, 57):
        assert num_frames_for(duration, 24.0) / 24.0 <= duration + 1e-6


def test_times_and_frames_agree():
    times = frame_times_s(90, 30.0)
    np.testing.assert_array_equal(times_to_frames(times, 30.0), np.arange(90))


def test_audio_accepts_mono_stereo_and_comfy_batch_layouts():
    samples = np.zeros(22050, np.float32)
    assert Audio.from_array(samples, 22050).samples.shape == (1, 22050)
    assert Audio.from_array(np.zeros((2, 8000)), 8000).mono().shape == (8000,)
    assert Audio.from_array(np.zeros((1, 2, 44100)), 44100).samples.shape == (2, 44100)


@pytest.mark.parametrize("samples, sample_rate, message", [
    (np.zeros((2, 1, 100)), 44100, "batch of 2 clips"),
    (np.zeros((44100, 2)), 44100, "axes look swapped"),
    (np.full(1000, np.nan), 8000, "NaN"),
    (np.zeros(1000), 44.1, "sample rate"),
])
def test_audio_layout_errors_name_the_problem(samples, sample_rate, message):
    with pytest.raises(AudioInputError, match=message):
        Audio.from_array(samples, sample_rate)


def test_unanalysable_audio_is_refused_with_the_fix():
    rng = np.random.default_rng(0)
    with pytest.raises(AudioInputError, match="empty"):
        Audio.from_array(np.zeros((1, 0)), 22050).check_analysable()
    with pytest.raises(AudioInputError, match="at least 1 s"):
        Audio.from_array(rng.normal(size=2000) * 0.1, 22050).check_analysable()
    with pytest.raises(AudioInputError, match="silent"):
        Audio.from_array(np.zeros(22050 * 3), 22050).check_analysable()
    with pytest.raises(AudioInputError, match="Trim it"):
        Audio.from_array(rng.normal(size=1000 * 200) * 0.1, 1000).check_analysable(max_duration_s=60)

"""Loading song files: formats, layouts and the errors users see for bad files."""

import numpy as np
import pytest
import soundfile

from choreo.errors import AudioInputError
from choreo.io.audio_files import load_audio


def test_stereo_wav_loads_as_channels_by_samples(tmp_path):
    path = tmp_path / "song.wav"
    samples = np.random.default_rng(0).uniform(-0.5, 0.5, (8000, 2)).astype(np.float32)
    soundfile.write(path, samples, 8000, subtype="FLOAT")
    audio = load_audio(path)
    assert audio.samples.shape == (2, 8000) and audio.sample_rate == 8000
    np.testing.assert_allclose(audio.samples, samples.T, atol=1e-6)


def test_flac_loads(tmp_path):
    path = tmp_path / "song.flac"
    soundfile.write(path, np.sin(np.linspace(0, 100, 44100)).astype(np.float32) * 0.5, 44100)
    assert load_audio(path).samples.shape == (1, 44100)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(AudioInputError, match="does not exist"):
        load_audio(tmp_path / "nope.wav")


def test_empty_file_is_named(tmp_path):
    path = tmp_path / "empty.wav"
    path.touch()
    with pytest.raises(AudioInputError, match="'empty.wav' is empty"):
        load_audio(path)


def test_corrupt_file_says_what_to_do(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(AudioInputError, match="could not decode audio file 'broken.wav'.*re-export"):
        load_audio(path)

"""Loading song files: formats, layouts and the errors users see for bad files."""

import subprocess

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
    path.write_bytes(b"RIFF\x00\x01\x00\x00WAVE" + np.random.default_rng(0).bytes(4000))
    with pytest.raises(AudioInputError, match="could not decode audio file 'broken.wav': it is not audio.*re-export"):
        load_audio(path)


def test_text_file_named_mp3_is_called_a_text_file_not_an_ffmpeg_problem(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("shopping list\nmilk\n" * 40, encoding="utf-8")
    with pytest.raises(AudioInputError, match="'notes.mp3' is a text file, not audio") as caught:
        load_audio(path)
    assert "install ffmpeg" not in str(caught.value)


def test_m4a_decodes_through_the_bundled_ffmpeg(tmp_path):
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    path = tmp_path / "tone.m4a"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin",
                    "-f", "lavfi", "-i", "sine=frequency=440:duration=1:sample_rate=44100", "-ac", "2",
                    "-c:a", "aac", str(path)], check=True)
    with pytest.raises(soundfile.LibsndfileError):
        soundfile.info(str(path))  # libsndfile alone cannot read it: the ffmpeg fallback is what decodes it
    audio = load_audio(path)
    assert audio.sample_rate == 44100 and audio.samples.shape[0] == 2
    assert abs(audio.samples.shape[1] / 44100 - 1.0) < 0.05  # AAC adds priming samples, about 1024
    spectrum = np.abs(np.fft.rfft(audio.samples[0]))
    assert abs(np.argmax(spectrum) * 44100 / audio.samples.shape[1] - 440) < 5

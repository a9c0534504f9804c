"""Music features: one row per motion frame at any fps, and clear errors for missing extractors."""

import numpy as np
import pytest

from choreo.errors import ChoreoError
from choreo.music.audio import Audio
from choreo.music.features import EDGE_COLUMNS, extract_music_features
from choreo.timeline import num_frames_for


def click_track(duration_s=4.3, sample_rate=44100, bpm=120.0):
    signal = np.zeros(int(duration_s * sample_rate), dtype=np.float32)
    for time_s in np.arange(0.1, duration_s, 60.0 / bpm):
        start = int(time_s * sample_rate)
        signal[start:start + 200] = np.hanning(200)
    signal += 0.01 * np.sin(2 * np.pi * 440 * np.arange(len(signal)) / sample_rate).astype(np.float32)
    return Audio.from_array(signal, sample_rate)


@pytest.mark.parametrize("fps", [30.0, 60.0])
def test_edge_features_have_35_columns_and_one_row_per_frame(fps):
    audio = click_track()
    features = extract_music_features(audio, fps=fps)
    assert features.values.shape == (num_frames_for(audio.duration_s, fps), 35)
    assert features.num_frames == num_frames_for(audio.duration_s, fps)
    assert features.values.dtype == np.float32 and features.columns == EDGE_COLUMNS
    assert set(np.unique(features.values[:, 34])) <= {0.0, 1.0} and features.values[:, 34].sum() >= 4
    assert np.isfinite(features.values).all()


def test_unknown_extractor_is_named():
    with pytest.raises(ChoreoError, match="unknown music feature extractor 'mert'"):
        extract_music_features(click_track(), extractor="mert")


def test_jukebox_without_jukemirlib_says_how_to_install():
    try:
        import jukemirlib  # noqa: F401
        pytest.skip("jukemirlib is installed; the missing-package path cannot be exercised")
    except ImportError:
        pass
    with pytest.raises(ChoreoError, match="pip install jukemirlib"):
        extract_music_features(click_track(), extractor="jukebox")


def test_wav2vec2_without_a_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ChoreoError, match="wav2vec2"):
        extract_music_features(click_track(), extractor="wav2vec2", model_path=str(tmp_path / "missing"))


def test_wav2vec2_tiny_random_model_gives_one_row_per_frame(tmp_path):
    transformers = pytest.importorskip("transformers")
    config = transformers.Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=32, conv_dim=(8, 8), conv_kernel=(10, 3),
                                         conv_stride=(5, 2), num_conv_pos_embeddings=16,
                                         num_conv_pos_embedding_groups=2)
    transformers.Wav2Vec2Model(config).save_pretrained(tmp_path)
    audio = click_track()
    features = extract_music_features(audio, fps=30.0, extractor="wav2vec2", model_path=str(tmp_path))
    assert features.values.shape == (num_frames_for(audio.duration_s, 30.0), 16)

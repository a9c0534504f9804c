"""Music features: one row per motion frame at any fps, and clear errors for missing extractors."""

import numpy as np
import pytest

from choreo.errors import ChoreoError
from choreo.music.audio import Audio
from choreo.music.features import EDGE_COLUMNS, extract_music_features, wav2vec2_model_folders
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


def _tiny_wav2vec2(folder, pickled: bool = False):
    """A 16-channel random Wav2Vec2 saved as a Hugging Face folder: model.safetensors, or (``pickled``) only the
    legacy pytorch_model.bin that older repositories hold."""
    transformers = pytest.importorskip("transformers")
    config = transformers.Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                         intermediate_size=32, conv_dim=(8, 8), conv_kernel=(10, 3),
                                         conv_stride=(5, 2), num_conv_pos_embeddings=16,
                                         num_conv_pos_embedding_groups=2)
    model = transformers.Wav2Vec2Model(config)
    model.save_pretrained(folder)
    if pickled:
        import torch

        torch.save(model.state_dict(), folder / "pytorch_model.bin")
        (folder / "model.safetensors").unlink()
    return folder


def test_wav2vec2_tiny_random_model_gives_one_row_per_frame(tmp_path):
    _tiny_wav2vec2(tmp_path)
    audio = click_track()
    features = extract_music_features(audio, fps=30.0, extractor="wav2vec2", model_path=str(tmp_path))
    assert features.values.shape == (num_frames_for(audio.duration_s, 30.0), 16)


def test_wav2vec2_folder_with_only_pytorch_model_bin_is_refused_before_loading(tmp_path, monkeypatch):
    _tiny_wav2vec2(tmp_path, pickled=True)
    assert (tmp_path / "pytorch_model.bin").is_file() and not (tmp_path / "model.safetensors").exists()
    import torch

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load was called on a pickled checkpoint")

    monkeypatch.setattr(torch, "load", no_unpickling)
    with pytest.raises(ChoreoError, match=r"only pytorch_model\.bin.*safetensors only"):
        extract_music_features(click_track(), extractor="wav2vec2", model_path=str(tmp_path))


def test_wav2vec2_is_never_fetched_from_the_hub():
    with pytest.raises(ChoreoError, match="local Hugging Face model folder"):
        extract_music_features(click_track(), extractor="wav2vec2", model_path="facebook/wav2vec2-base")


def test_wav2vec2_folders_are_listed_by_their_path_below_a_root(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first / "base", first / "org" / "large", second / "base", second / "other"):
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    (first / "config.json").write_text("{}")  # a root itself is not a model
    (first / "no_config").mkdir()
    found = wav2vec2_model_folders([first, second, tmp_path / "missing"])
    assert found == {"base": first / "base", "org/large": first / "org" / "large", "other": second / "other"}


def _music_nodes(pack, monkeypatch, models_root):
    """The Music Features node module outside ComfyUI, its models folder under ``models_root``."""
    monkeypatch.chdir(models_root)
    return pack.nodes.music_nodes


def test_music_features_node_offers_only_registered_model_folders(pack, tmp_path, monkeypatch):
    nodes = _music_nodes(pack, monkeypatch, tmp_path)
    pack_error = pack.choreo.errors.ChoreoError  # the pack's own copy of the class
    (tmp_path / "models_user" / "choreo" / "wav2vec2" / "base").mkdir(parents=True)
    (tmp_path / "models_user" / "choreo" / "wav2vec2" / "base" / "config.json").write_text("{}")
    choices, options = nodes.ChoreoMusicFeatures.INPUT_TYPES()["optional"]["wav2vec2_model"]
    assert choices == ["(none)", "base"] and options["default"] == "(none)"
    node = nodes.ChoreoMusicFeatures()
    comfy_audio = {"waveform": comfy_waveform(click_track()), "sample_rate": 44100}
    with pytest.raises(pack_error, match="not a model folder"):
        node.extract(comfy_audio, 30.0, "wav2vec2", wav2vec2_model=str(tmp_path / "models_user"))
    with pytest.raises(pack_error, match="needs wav2vec2_model"):
        node.extract(comfy_audio, 30.0, "wav2vec2")
    with pytest.raises(pack_error, match="no weights, no model.safetensors"):
        node.extract(comfy_audio, 30.0, "wav2vec2", wav2vec2_model="base")
    assert node.extract(comfy_audio, 30.0, "edge_librosa", wav2vec2_model="base")[0].values.shape[1] == 35


def test_music_features_node_runs_a_chosen_safetensors_model(pack, tmp_path, monkeypatch):
    nodes = _music_nodes(pack, monkeypatch, tmp_path)
    _tiny_wav2vec2(tmp_path / "models_user" / "choreo" / "wav2vec2" / "tiny")
    comfy_audio = {"waveform": comfy_waveform(click_track()), "sample_rate": 44100}
    (features,) = nodes.ChoreoMusicFeatures().extract(comfy_audio, 30.0, "wav2vec2", wav2vec2_model="tiny")
    assert features.values.shape[1] == 16 and features.extractor == "wav2vec2"


def test_wav2vec2_folder_is_registered_with_comfyui_folder_paths(pack, tmp_path, monkeypatch):
    class FolderPaths:  # the part of ComfyUI's folder_paths the node uses
        def __init__(self):
            self.models_dir = str(tmp_path / "models")
            self.folder_names_and_paths = {}

        def add_model_folder_path(self, name, path, is_default=False):
            self.folder_names_and_paths.setdefault(name, ([], set()))[0].append(path)

        def get_folder_paths(self, name):
            return self.folder_names_and_paths[name][0]

    folder_paths = FolderPaths()
    monkeypatch.setattr(pack.nodes.comfy_bridge, "folder_paths", folder_paths)
    nodes = pack.nodes.music_nodes
    nodes.register_wav2vec2_folder()
    assert folder_paths.get_folder_paths("choreo_wav2vec2") == [str(tmp_path / "models" / "choreo" / "wav2vec2")]
    extra = tmp_path / "extra_model_paths_entry"
    (extra / "mine").mkdir(parents=True)
    (extra / "mine" / "config.json").write_text("{}")
    folder_paths.add_model_folder_path("choreo_wav2vec2", str(extra))
    assert nodes.wav2vec2_models() == {"mine": extra / "mine"}


def comfy_waveform(signal_audio):
    """A ComfyUI AUDIO waveform [1, 1, samples] from a core Audio."""
    import torch

    return torch.from_numpy(signal_audio.mono()[None, None].copy())

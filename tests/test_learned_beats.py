"""The learned beat tracker: numpy inference equals the torch network, the decoders recover known
beats, bars and meters from synthetic activations, and the trainer writes a loadable checkpoint."""

import json

import mir_eval
import numpy as np
import pytest
import soundfile

from choreo.checkpoints import CheckpointError
from choreo.errors import ChoreoError
from choreo.music import analyze as analyze_module
from choreo.music.analyze import analyze_music
from choreo.music.audio import Audio
from choreo.music.learned_beats import BeatTCNConfig, activation_at_beats, decode, load_beat_tracker, network_input
from choreo.music.meter import decode_bars

FRAME_RATE_HZ = 22050 / 256
TINY = BeatTCNConfig(num_bands=8, channels=4, stem_kernel=3, kernel_size=3, dilations=(1, 2, 4), dropout=0.0)


def tiny_checkpoint(directory, config=TINY, seed=0):
    torch = pytest.importorskip("torch")
    from choreo.checkpoints import save_checkpoint
    from models.beat_tcn import BeatTCN

    torch.manual_seed(seed)
    model = BeatTCN(config)
    with torch.no_grad():
        for parameter in model.parameters():  # not the near-identity init: every layer must matter
            parameter.normal_(0.0, 0.5)
    save_checkpoint(directory, model, config)
    return model


def synthetic_activations(beat_times_s, downbeat_times_s, duration_s, width_frames=1.0):
    """(2, T) Gaussian bumps on the beat and downbeat frames over a 0.02 floor."""
    frames = np.arange(int(duration_s * FRAME_RATE_HZ))
    rows = []
    for times_s in (beat_times_s, downbeat_times_s):
        centres = np.asarray(times_s) * FRAME_RATE_HZ
        bumps = np.exp(-0.5 * ((frames[None, :] - centres[:, None]) / width_frames) ** 2).max(axis=0)
        rows.append(0.02 + 0.9 * bumps)
    return np.stack(rows).astype(np.float32)


def test_numpy_forward_equals_the_torch_network(tmp_path):
    torch = pytest.importorskip("torch")
    model = tiny_checkpoint(tmp_path)
    log_mel_db = np.random.default_rng(1).normal(-40.0, 20.0, (TINY.num_bands, 300)).astype(np.float32)
    with torch.no_grad():
        expected = torch.sigmoid(model.eval()(torch.from_numpy(network_input(log_mel_db))[None]))[0].numpy()
    actual = load_beat_tracker(tmp_path).activations(log_mel_db)
    assert actual.shape == (2, 300)
    np.testing.assert_allclose(actual, expected, atol=1e-4)


def test_network_input_does_not_depend_on_gain():
    log_mel_db = np.random.default_rng(2).uniform(-80.0, 0.0, (8, 50))
    np.testing.assert_allclose(network_input(log_mel_db), network_input(log_mel_db - 17.0), atol=1e-6)
    assert network_input(log_mel_db).max() == pytest.approx(1.0)


@pytest.mark.parametrize("tempo_bpm, beats_per_bar, first_downbeat", [(100.0, 3, 1), (128.0, 4, 2), (75.0, 5, 0),
                                                                      (170.0, 7, 3)])
def test_decoder_recovers_beats_downbeats_and_meter(tempo_bpm, beats_per_bar, first_downbeat):
    beats_s = np.arange(0.5, 29.5, 60.0 / tempo_bpm)
    downbeats_s = beats_s[first_downbeat::beats_per_bar]
    found_s, meter, beat_in_bar = decode(synthetic_activations(beats_s, downbeats_s, 30.0), FRAME_RATE_HZ)
    assert mir_eval.beat.f_measure(beats_s, found_s) > 0.98
    assert meter == beats_per_bar
    assert mir_eval.beat.f_measure(downbeats_s, found_s[beat_in_bar == 0]) > 0.95


def test_decoder_follows_a_tempo_ramp():
    intervals_s = np.linspace(60.0 / 90.0, 60.0 / 120.0, 40)
    beats_s = 0.5 + np.concatenate([[0.0], np.cumsum(intervals_s)])
    found_s, meter, _ = decode(synthetic_activations(beats_s, beats_s[::4], beats_s[-1] + 0.5), FRAME_RATE_HZ)
    assert mir_eval.beat.f_measure(beats_s, found_s) > 0.95
    assert meter == 4


def test_bar_decoder_follows_a_bar_cut_short():
    """Two 4/4 bars, then a 2-beat bar (a pickup), then 4/4 again: the bar line follows the activation."""
    positions = [0, 1, 2, 3] * 2 + [0, 1] + [0, 1, 2, 3] * 4
    evidence = np.where(np.array(positions) == 0, 0.9, 0.05)
    meter, beat_in_bar = decode_bars(evidence)
    assert meter == 4
    np.testing.assert_array_equal(beat_in_bar, positions)


def test_uninformative_downbeats_give_four_four_and_two_is_counted_as_four():
    meter, beat_in_bar = decode_bars(np.full(32, 0.3))
    assert meter == 4 and set(beat_in_bar) == {0, 1, 2, 3}
    two_four = np.tile([0.9, 0.05], 16)
    meter, beat_in_bar = decode_bars(two_four)
    assert meter == 4
    assert np.all(two_four[beat_in_bar == 0] == 0.9)


def test_activation_at_beats_takes_the_peak_near_each_beat():
    activation = np.zeros(100)
    activation[52] = 0.8
    evidence = activation_at_beats(activation, np.array([50, 70]) / FRAME_RATE_HZ, FRAME_RATE_HZ)
    np.testing.assert_allclose(evidence, [0.8, 0.0])


def test_loader_refuses_a_missing_or_mismatched_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="config.json"):
        load_beat_tracker(tmp_path / "nothing")
    tiny_checkpoint(tmp_path / "tiny")
    config = json.loads((tmp_path / "tiny" / "config.json").read_text())
    config["config"]["dilations"] = [1, 2, 4, 8]
    (tmp_path / "tiny" / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="missing"):
        load_beat_tracker(tmp_path / "tiny")


def click_song(tempo_bpm=120.0, duration_s=8.0, sample_rate=22050):
    signal = np.zeros(int(duration_s * sample_rate), dtype=np.float32)
    click = np.sin(2 * np.pi * 1000 * np.arange(400) / sample_rate) * np.exp(-np.arange(400) / 80)
    for index, time_s in enumerate(np.arange(0.25, duration_s - 0.2, 60.0 / tempo_bpm)):
        start = int(time_s * sample_rate)
        signal[start:start + 400] += (1.0 if index % 4 == 0 else 0.5) * click
    return signal


def onset_pulses(times_s, duration_s):
    """(T,) an onset envelope with a one-frame pulse at each time (spectral flux's lag included)."""
    envelope = np.zeros(int(duration_s * FRAME_RATE_HZ), dtype=np.float32)
    envelope[np.rint((np.asarray(times_s) + analyze_module.ONSET_LAG_S) * FRAME_RATE_HZ).astype(int)] = 1.0
    return envelope


def never_called(beat_times_s):
    raise AssertionError("the fallback bars were asked for")


def test_a_confident_network_keeps_its_beats_and_an_unsure_one_hands_the_song_to_the_dsp_tracker():
    duration_s, beats_s = 20.0, np.arange(0.5, 19.5, 0.5)
    sure = synthetic_activations(beats_s, beats_s[::4], duration_s)
    onset = onset_pulses(beats_s, duration_s)
    found = analyze_module.network_beats(sure, FRAME_RATE_HZ, onset, onset, never_called)
    assert found is not None and mir_eval.beat.f_measure(beats_s, found[0]) > 0.95
    unsure = sure.copy()
    unsure[0] = 0.02 + 0.25 * (sure[0] - 0.02)  # the same shape, peaks of 0.25: below LEARNED_MIN_CONFIDENCE
    assert analyze_module.network_beats(unsure, FRAME_RATE_HZ, onset, onset, never_called) is None


def test_network_beats_on_a_louder_off_beat_move_onto_the_bass():
    """The network fooled by loud off-beat hats: its beats sit between the kicks, which the bass band shows."""
    duration_s, kicks_s = 20.0, np.arange(0.5, 19.5, 0.5)
    hats_s = kicks_s[:-1] + 0.25
    fooled = synthetic_activations(hats_s, hats_s[::4], duration_s)
    full_band = onset_pulses(hats_s, duration_s) + 0.5 * onset_pulses(kicks_s, duration_s)
    beat_times_s, _ = analyze_module.network_beats(fooled, FRAME_RATE_HZ, full_band,
                                                   onset_pulses(kicks_s, duration_s), never_called)
    assert mir_eval.beat.f_measure(kicks_s, beat_times_s) > 0.95


def test_accents_tip_a_torn_network_and_decide_alone_where_it_hears_no_downbeat():
    duration_s, beats_s = 20.0, np.arange(0.5, 19.5, 0.5)
    harmony_moves = (np.arange(len(beats_s)) % 4 == 2).astype(float)  # accents: bass and chords on every 4th beat

    def accents(beat_times_s):
        return harmony_moves[:len(beat_times_s)]

    clear = synthetic_activations(beats_s, beats_s[1::3], duration_s)  # 3/4, the "1" on the second beat
    beats_per_bar, beat_in_bar = analyze_module.learned_bars(clear[1], FRAME_RATE_HZ, accents)(beats_s)
    assert beats_per_bar == 3 and np.all(beat_in_bar[1::3] == 0)  # a sure network keeps its bars
    torn = synthetic_activations(beats_s, beats_s[::2], duration_s)  # equal peaks every other beat: 1 and 3?
    torn[1] = 0.02 + 0.5 * (torn[1] - 0.02)
    beats_per_bar, beat_in_bar = analyze_module.learned_bars(torn[1], FRAME_RATE_HZ, accents)(beats_s)
    assert beats_per_bar == 4 and np.all(beat_in_bar[2::4] == 0)  # the accents pick the bar line
    flat = np.full_like(clear[1], 0.1)  # no beat's downbeat activation reaches the prior share (0.3)
    beats_per_bar, beat_in_bar = analyze_module.learned_bars(flat, FRAME_RATE_HZ, accents)(beats_s)
    assert beats_per_bar == 4 and np.all(beat_in_bar[2::4] == 0)


def test_analyze_music_refuses_an_unknown_tracker_and_missing_learned_weights(tmp_path, monkeypatch):
    audio = Audio.from_array(click_song(), 22050)
    with pytest.raises(ChoreoError, match="beat_tracker 'rnn'"):
        analyze_music(audio, beat_tracker="rnn")
    monkeypatch.setattr(analyze_module, "DEFAULT_CHECKPOINT_DIR", tmp_path)
    with pytest.raises(ChoreoError, match="choose dsp"):
        analyze_music(audio, beat_tracker="learned")


def test_analyze_music_runs_the_learned_tracker_and_keeps_bars_consistent(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    config = BeatTCNConfig(channels=4, kernel_size=3, dilations=(1, 2), dropout=0.0)
    tiny_checkpoint(tmp_path, config)
    monkeypatch.setattr(analyze_module, "DEFAULT_CHECKPOINT_DIR", tmp_path)
    analysis = analyze_music(Audio.from_array(click_song(), 22050), beat_tracker="learned")
    assert len(analysis.beat_in_bar) == len(analysis.beat_times_s)
    np.testing.assert_array_equal(analysis.downbeat_times_s, analysis.beat_times_s[analysis.beat_in_bar == 0])
    assert np.all(analysis.beat_in_bar < analysis.beats_per_bar)


def write_tiny_corpus(root, tempo_bpm=120.0, duration_s=6.0):
    for folder in ("audio", "labels"):
        (root / folder).mkdir(parents=True)
    for split in ("train", "validation", "test"):
        rows = []
        for index in range(2 if split == "train" else 1):
            clip_id = f"{split}-{index}"
            soundfile.write(root / "audio" / f"{clip_id}.wav", click_song(tempo_bpm, duration_s), 22050)
            beats_s = list(np.arange(0.25, duration_s - 0.2, 60.0 / tempo_bpm))
            (root / "labels" / f"{clip_id}.json").write_text(json.dumps({"beats_s": beats_s,
                                                                         "downbeats_s": beats_s[::4]}))
            rows.append({"clip_id": clip_id, "split": split, "source": "synthetic", "licence": "test clicks",
                         "audio": f"audio/{clip_id}.wav", "labels": f"labels/{clip_id}.json"})
        (root / f"manifest_{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def test_trainer_writes_a_checkpoint_the_numpy_tracker_loads(tmp_path):
    pytest.importorskip("torch")
    from choreo.training.train_beat_tracker import main

    write_tiny_corpus(tmp_path / "corpus")
    out = tmp_path / "out"
    assert main(["--corpus", str(tmp_path / "corpus"), "--out", str(out), "--features-cache", str(tmp_path / "cache"),
                 "--max-steps", "2", "--eval-every", "1", "--batch", "2", "--crop-frames", "128",
                 "--channels", "4"]) == 0
    tracker = load_beat_tracker(out)
    assert tracker.config.channels == 4
    readme = (out / "README.md").read_text()
    assert "--max-steps 2" in readme and "synthetic: test clicks" in readme
    assert (tmp_path / "cache" / "corpus" / "validation-0.npz").is_file()


def test_augmented_crop_moves_the_labels_with_the_stretched_spectrogram():
    from choreo.training.train_beat_tracker import Clip, augmented_crop

    beat_frames = np.arange(20.0, 1900.0, 37.3)
    log_mel_db = np.full((8, 2000), -80.0, dtype=np.float16)
    log_mel_db[:, np.rint(beat_frames).astype(int)] = 0.0
    clip = Clip("clicks", log_mel_db, beat_frames, beat_frames[::4])
    inputs, targets = augmented_crop(clip, 512, np.random.default_rng(3))
    level = inputs.mean(axis=0)
    loud = level > level.min() + 0.5 * (level.max() - level.min())
    on_target = targets[0] >= 0.5
    assert loud.sum() > 5
    assert np.mean(on_target[np.flatnonzero(loud)]) > 0.9  # every loud frame sits on (or next to) a label
    assert set(np.unique(targets)) <= {0.0, 0.5, 1.0}

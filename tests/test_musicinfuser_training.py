"""MusicInfuser training on a tiny random Mochi: the beta-uniform schedule, overfitting a few clips, resuming."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")
pytest.importorskip("accelerate")

from safetensors.torch import load_file, save_file  # noqa: E402

from choreo.errors import ChoreoError  # noqa: E402
from choreo.training import train_musicinfuser as trainer  # noqa: E402
from choreo.training.train_musicinfuser import (TrainOptions, beta_b, build_model, learning_rate_factor,  # noqa: E402
                                                train)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_beta_schedule_starts_low_noise_and_relaxes_to_uniform():
    assert beta_b(0) == 3.0  # Beta(1, 3): mean noise 0.25
    assert beta_b(200) == pytest.approx(2.0)  # half-way after one half-life
    assert beta_b(4000) == pytest.approx(1.0, abs=1e-5)  # Beta(1, 1) = uniform
    assert learning_rate_factor(100, 200, 4000) == 0.5
    assert learning_rate_factor(200, 200, 4000) == 1.0 and learning_rate_factor(4000, 200, 4000) == pytest.approx(0)


@pytest.fixture(scope="module")
def mochi_and_clips(tmp_path_factory):
    from diffusers import MochiTransformer3DModel

    root = tmp_path_factory.mktemp("train")
    torch.manual_seed(0)
    MochiTransformer3DModel(num_attention_heads=2, attention_head_dim=8, num_layers=3, pooled_projection_dim=16,
                            in_channels=4, text_embed_dim=32, time_embed_dim=8,
                            max_sequence_length=8).save_pretrained(root / "mochi" / "transformer")
    generator = torch.Generator().manual_seed(2)
    (root / "clips").mkdir()
    for index in range(2):  # each clip's "video" is one colour per latent channel, which its music must decide
        mask = torch.zeros(8, dtype=torch.uint8)
        mask[:5] = 1
        colour = torch.randn(4, generator=generator).sign()
        save_file({"latents": colour.view(4, 1, 1, 1).expand(4, 2, 8, 8).contiguous(),
                   "music": torch.randn(10, 768, generator=generator),
                   "prompt_embeds": torch.randn(8, 32, generator=generator), "prompt_mask": mask},
                  str(root / "clips" / f"clip{index}.safetensors"))
    return root


def options(root, out: str, **changes) -> TrainOptions:
    base = dict(mochi=str(root / "mochi"), data=str(root / "clips"), out=str(root / out), steps=60, lr=1e-2,
                warmup_steps=5, lora_rank=4, zica_blocks="0,2", dtype="fp32", gradient_checkpointing=False,
                log_every=5, save_every=10)
    return TrainOptions(**{**base, **changes})


def fixed_loss(model, clips) -> float:
    """Mean flow loss at fixed noise levels and noise (no dropout): comparable before and after training."""
    generator = torch.Generator().manual_seed(11)
    losses = []
    with torch.no_grad():
        for clip in clips:
            for sigma in (0.2, 0.5, 0.8):
                x0 = clip["latents"][None]
                noise = torch.randn(x0.shape, generator=generator)
                prediction = model((1 - sigma) * x0 + sigma * noise, clip["prompt_embeds"][None],
                                   torch.tensor([1000.0 * (1 - sigma)]), clip["prompt_mask"][None].bool(),
                                   clip["music"][None])
                losses.append(float(torch.nn.functional.mse_loss(prediction, x0 - noise)))
    return sum(losses) / len(losses)


def test_training_overfits_a_few_clips_and_writes_the_official_layout(mochi_and_clips):
    root = mochi_and_clips
    clips = trainer.load_clips(root / "clips")
    before = fixed_loss(build_model(options(root, "unused")).eval(), clips)
    result = train(options(root, "run"))
    after = fixed_loss(build_model(options(root, "unused", init=str(result))).eval(), clips)
    assert after < 0.7 * before, (before, after)
    stored = load_file(str(result))
    assert "blocks.0.attn.qkv_x.lora_A" in stored and "audio_cross_attn_blocks.1.to_out.weight" in stored
    log = [json.loads(line) for line in (root / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [record["step"] for record in log] == list(range(5, 61, 5))


def test_a_run_stopped_midway_resumes_to_the_same_weights(mochi_and_clips, monkeypatch):
    root = mochi_and_clips
    straight = load_file(str(train(options(root, "straight", steps=20))))

    class Crash(Exception):
        pass

    calls = {"n": 0}
    real_loss = trainer.training_loss

    def crashing_loss(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 13:  # after the save at step 10, before the one at step 20
            raise Crash
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(trainer, "training_loss", crashing_loss)
    with pytest.raises(Crash):
        train(options(root, "resumed", steps=20))
    monkeypatch.setattr(trainer, "training_loss", real_loss)
    assert json.loads((root / "resumed" / "training_state" / "state.json").read_text())["step"] == 10
    resumed = load_file(str(train(options(root, "resumed", steps=20))))
    assert sorted(resumed) == sorted(straight)
    assert all(torch.equal(resumed[key], straight[key]) for key in straight)


def test_missing_data_says_to_encode_first(tmp_path):
    with pytest.raises(ChoreoError, match="run the 'encode' command first"):
        trainer.load_clips(tmp_path)


def test_beat_channels_train_from_zero_when_clips_carry_beats(mochi_and_clips, tmp_path):
    root = mochi_and_clips
    clips = tmp_path / "clips"
    clips.mkdir()
    for path in sorted((root / "clips").glob("*.safetensors")):
        clip = load_file(str(path))
        beats = torch.zeros(10, 2)
        beats[::4, 0] = 1.0
        save_file({**clip, "beats": beats}, str(clips / path.name))
    result = train(options(root, "beats", data=str(clips), steps=5, beat_channels=2))
    stored = load_file(str(result))
    assert stored["beat_projection.weight"].shape == (16, 2)
    assert torch.count_nonzero(stored["beat_projection.weight"]) > 0  # learned, from its zero start


def test_dance_videos_encode_into_training_clips(tmp_path):
    import numpy as np

    from choreo.io.video_export import write_mp4
    from choreo.music.audio import Audio
    from test_musicinfuser_checkpoint import tiny_pipeline_folder, tiny_wav2vec2_folder

    tiny_pipeline_folder(tmp_path / "mochi")
    tiny_wav2vec2_folder(tmp_path / "wav2vec2")
    encoders = trainer.load_encoders(tmp_path / "mochi", tmp_path / "wav2vec2", dtype="fp32")
    videos = tmp_path / "videos"
    videos.mkdir()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (20, 48, 64, 3), dtype=np.uint8)
    song = Audio((0.1 * rng.standard_normal((1, 22050))).astype(np.float32), 22050)
    write_mp4(videos / "clip.mp4", frames, 30.0, song)
    (videos / "clip.txt").write_text("a dancer in a red dress")
    assert trainer.encode_videos(encoders, videos, tmp_path / "clips", num_frames=13, width=32, height=32,
                                 prompt="unused") == 1
    clip = load_file(str(tmp_path / "clips" / "clip.safetensors"))
    assert tuple(clip["latents"].shape) == (4, 3, 4, 4)  # 13 frames -> 3 latent frames, 32 px -> 4
    # (13 / 30 + 0.09) s = 8,374 samples at 16 kHz; Wav2Vec2: (8374 - 400) // 320 + 1 = 25 tokens of 12-d
    assert tuple(clip["music"].shape) == (25, 12)
    assert clip["prompt_mask"].sum() == len("a dancer in a red dress")  # the caption beside the video, 1 token/char
    with pytest.raises(ChoreoError, match="fewer than the 25 asked for"):
        trainer.encode_videos(encoders, videos, tmp_path / "more", num_frames=25, width=32, height=32, prompt="x")

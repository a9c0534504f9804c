"""MusicInfuser's official checkpoint on a tiny 48-block Mochi: converter, loading, and sampling end to end.

The tiny checkpoint is written here in the official layout (Genmo's native key names, fused-QKV LoRA, bf16,
``kwargs`` metadata), as the public MusicInfuser trainer saves it.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")
pytest.importorskip("transformers")

from safetensors.torch import save_file  # noqa: E402

from choreo.checkpoints import CheckpointError  # noqa: E402
from choreo.generators.musicinfuser import (FPS, MusicInfuserError, MusicInfuserFiles, beat_channels,  # noqa: E402
                                            check_files, frames_for_audio, generate_music_video, load_musicinfuser,
                                            sigma_schedule)
from choreo.generators.musicinfuser_checkpoint import (adapter_state, choreo_to_official,  # noqa: E402
                                                       config_from_file, official_to_choreo, read_musicinfuser_file,
                                                       save_musicinfuser_file)
from choreo.music.audio import Audio  # noqa: E402
from models.musicinfuser import ZICA_BLOCKS, MusicInfuser, MusicInfuserConfig  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")
LAYERS, WIDTH, TEXT_WIDTH, RANK, AUDIO_DIM, LATENT = 48, 16, 16, 4, 12, 4


def tiny_mochi():
    from diffusers import MochiTransformer3DModel

    torch.manual_seed(0)
    return MochiTransformer3DModel(num_attention_heads=2, attention_head_dim=8, num_layers=LAYERS,
                                   pooled_projection_dim=TEXT_WIDTH, in_channels=LATENT, text_embed_dim=32,
                                   time_embed_dim=8, max_sequence_length=8)


def official_checkpoint(seed: int = 3) -> dict:
    """Random weights under the keys and shapes the official trainer writes (bf16, as released)."""
    generator = torch.Generator().manual_seed(seed)

    def rand(*shape):
        return torch.randn(*shape, generator=generator).to(torch.bfloat16)

    state = {}
    for block in range(LAYERS):
        prefix = f"blocks.{block}.attn."
        state[prefix + "qkv_x.lora_A"], state[prefix + "qkv_x.lora_B"] = rand(RANK, WIDTH), rand(3 * WIDTH, RANK)
        state[prefix + "qkv_y.lora_A"], state[prefix + "qkv_y.lora_B"] = rand(RANK, TEXT_WIDTH), rand(3 * WIDTH, RANK)
        state[prefix + "proj_x.lora_A"], state[prefix + "proj_x.lora_B"] = rand(RANK, WIDTH), rand(WIDTH, RANK)
        if block < LAYERS - 1:  # the last block does not update the text stream
            state[prefix + "proj_y.lora_A"], state[prefix + "proj_y.lora_B"] = rand(RANK, WIDTH), rand(TEXT_WIDTH, RANK)
    state["audio_projection.projection.0.weight"] = rand(24, AUDIO_DIM)
    state["audio_projection.projection.0.bias"] = rand(24)
    state["audio_projection.projection.2.weight"] = rand(WIDTH, 24)
    state["audio_projection.projection.2.bias"] = rand(WIDTH)
    for index in range(len(ZICA_BLOCKS)):
        for name in ("to_q", "to_k", "to_v", "to_out"):
            state[f"audio_cross_attn_blocks.{index}.{name}.weight"] = rand(WIDTH, WIDTH)
            state[f"audio_cross_attn_blocks.{index}.{name}.bias"] = rand(WIDTH)
    return state


def write_official(path, state: dict, alpha: int = RANK):
    kwargs = {"qkv_proj_lora_rank": RANK, "qkv_proj_lora_alpha": alpha, "qkv_proj_lora_dropout": 0.0,
              "out_proj_lora_rank": RANK, "out_proj_lora_alpha": alpha, "out_proj_lora_dropout": 0.0}
    save_file(state, str(path), metadata={"kwargs": json.dumps(kwargs)})
    return path


def tiny_model() -> MusicInfuser:
    return MusicInfuser(tiny_mochi(), MusicInfuserConfig(audio_dim=AUDIO_DIM, projector_hidden_dim=24,
                                                         lora_rank=RANK, lora_alpha=float(RANK)))


def test_round_trip_official_to_ours_to_official_is_bit_exact():
    official = official_checkpoint()
    model = tiny_model()
    ours = official_to_choreo(official, model)
    assert len(ours) == len(adapter_state(model))  # every weight of the adapter has a source
    back = choreo_to_official(ours)
    assert sorted(back) == sorted(official)
    assert all(torch.equal(back[key], official[key]) for key in official)


def test_fused_qkv_lora_splits_into_q_k_v_with_a_shared_a():
    official = official_checkpoint()
    model = tiny_model().to(torch.float32)
    model.load_state_dict(official_to_choreo(official, model), strict=False)
    attention = model.transformer.transformer_blocks[5].attn1
    delta = torch.cat([getattr(attention, name).get_delta_weight("default") for name in ("to_q", "to_k", "to_v")])
    fused = official["blocks.5.attn.qkv_x.lora_B"].float() @ official["blocks.5.attn.qkv_x.lora_A"].float()
    torch.testing.assert_close(delta, fused)  # alpha / rank = 1
    text_delta = attention.to_add_out.get_delta_weight("default")
    torch.testing.assert_close(text_delta, official["blocks.5.attn.proj_y.lora_B"].float()
                               @ official["blocks.5.attn.proj_y.lora_A"].float())


def test_unknown_missing_and_misshapen_keys_are_named():
    model = tiny_model()
    official = official_checkpoint()
    with pytest.raises(CheckpointError, match="no place for.*blocks.0.attn.qkv_x.lora_C"):
        official_to_choreo({**official, "blocks.0.attn.qkv_x.lora_C": official["blocks.0.attn.qkv_x.lora_A"]}, model)
    with pytest.raises(CheckpointError, match="no place for.*blocks.47.attn.proj_y.lora_A"):
        official_to_choreo({**official, "blocks.47.attn.proj_y.lora_A": official["blocks.0.attn.proj_y.lora_A"]},
                           model)
    partial = {key: value for key, value in official.items() if not key.startswith("audio_cross_attn_blocks.3.")}
    with pytest.raises(CheckpointError, match="lacks 8 weights.*audio_cross_attn_blocks.3"):
        official_to_choreo(partial, model)
    wrong = {**official, "audio_projection.projection.2.bias": torch.zeros(WIDTH + 1)}
    with pytest.raises(CheckpointError, match=r"audio_projection.projection.2.bias has shape \(17,\)"):
        official_to_choreo(wrong, model)


def test_config_is_read_from_the_file_and_our_own_saves_load_back(tmp_path):
    path = write_official(tmp_path / "musicinfuser.safetensors", official_checkpoint())
    tensors, metadata = read_musicinfuser_file(path)
    config = config_from_file(tensors, metadata, LAYERS)
    assert config == MusicInfuserConfig(audio_dim=AUDIO_DIM, projector_hidden_dim=24, lora_rank=RANK,
                                        lora_alpha=float(RANK))
    model = MusicInfuser(tiny_mochi(), config)
    model.load_state_dict(official_to_choreo(tensors, model), strict=False)
    saved = save_musicinfuser_file(model, tmp_path / "again.safetensors")
    again, again_metadata = read_musicinfuser_file(saved)
    assert sorted(again) == sorted(tensors) and all(torch.equal(again[key], tensors[key]) for key in tensors)
    assert again_metadata["kwargs"]["qkv_proj_lora_rank"] == RANK
    assert config_from_file(again, again_metadata, LAYERS) == config
    with pytest.raises(CheckpointError, match="ZICA blocks"):
        config_from_file(tensors, metadata, 12)  # a 12-block Mochi has 5 of the paper's ZICA positions


# --- loading and sampling end to end ---------------------------------------------------------------------------

def tiny_pipeline_folder(folder):
    from diffusers import AutoencoderKLMochi, FlowMatchEulerDiscreteScheduler, MochiPipeline
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    torch.manual_seed(0)
    vae = AutoencoderKLMochi(latent_channels=LATENT, encoder_block_out_channels=(32,) * 4,
                             decoder_block_out_channels=(32,) * 4, layers_per_block=(1,) * 5,
                             add_attention_block=(False,) * 5, latents_mean=[0.1] * LATENT,
                             latents_std=[0.9] * LATENT)
    text_encoder = T5EncoderModel(T5Config(vocab_size=32, d_model=32, d_kv=8, d_ff=32, num_layers=1, num_heads=2,
                                           relative_attention_num_buckets=8, decoder_start_token_id=0,
                                           pad_token_id=0))
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{c: 3 + i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz ")}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>")
    pipe = MochiPipeline(scheduler=FlowMatchEulerDiscreteScheduler(invert_sigmas=True), vae=vae,
                         text_encoder=text_encoder, tokenizer=tokenizer, transformer=tiny_mochi())
    pipe.save_pretrained(folder)
    return pipe


def tiny_wav2vec2_folder(folder):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    Wav2Vec2Model(Wav2Vec2Config(hidden_size=AUDIO_DIM, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=16, conv_dim=(8,) * 7, num_conv_pos_embeddings=16,
                                 num_conv_pos_embedding_groups=2)).save_pretrained(folder)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("musicinfuser")
    tiny_pipeline_folder(root / "mochi-tiny")
    tiny_wav2vec2_folder(root / "wav2vec2-tiny")
    state = official_checkpoint()
    for index in range(len(ZICA_BLOCKS)):  # small ZICA outputs, so the music matters without blowing up
        state[f"audio_cross_attn_blocks.{index}.to_out.weight"] *= 0.05
    write_official(root / "musicinfuser.safetensors", state)
    return MusicInfuserFiles(mochi_folder=root / "mochi-tiny", musicinfuser=root / "musicinfuser.safetensors",
                             wav2vec2=root / "wav2vec2-tiny")


@pytest.fixture(scope="module")
def loaded(files):
    return load_musicinfuser(files, dtype="fp32")


def song(duration_s: float, sample_rate: int = 22050, seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    return Audio((0.1 * rng.standard_normal((2, int(duration_s * sample_rate)))).astype(np.float32), sample_rate)


def test_loads_once_through_the_model_cache_and_names_missing_files(files, loaded, tmp_path):
    assert load_musicinfuser(files, dtype="fp32") is loaded
    assert loaded.model.config.zica_blocks == ZICA_BLOCKS
    projector = loaded.model.audio_projection.projection[0].weight
    stored, _ = read_musicinfuser_file(files.musicinfuser)
    assert torch.equal(projector, stored["audio_projection.projection.0.weight"].float())
    broken = MusicInfuserFiles(mochi_folder=tmp_path / "nothing", musicinfuser=tmp_path / "missing.safetensors",
                               wav2vec2=files.wav2vec2)
    with pytest.raises(CheckpointError, match=r"missing\.safetensors \(musicinfuser\.safetensors, "
                                              r"ComfyUI/models/loras\).*diffusers"):
        check_files(broken)
    pickled = tmp_path / "wav2vec2-bin-only"
    pickled.mkdir()
    (pickled / "config.json").write_text((files.wav2vec2 / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(CheckpointError, match="pickled .bin weights are refused"):
        check_files(MusicInfuserFiles(files.mochi_folder, files.musicinfuser, pickled))


def test_single_file_transformer_in_genmo_layout_loads_like_the_folder(files, loaded, tmp_path):
    from diffusers import MochiTransformer3DModel

    native = to_genmo_keys(MochiTransformer3DModel.from_pretrained(str(files.mochi_folder / "transformer")))
    save_file(native, str(tmp_path / "dit.safetensors"))
    single = load_musicinfuser(MusicInfuserFiles(files.mochi_folder, files.musicinfuser, files.wav2vec2,
                                                 transformer=tmp_path / "dit.safetensors"), dtype="fp32")
    ours, theirs = single.model.state_dict(), loaded.model.state_dict()
    assert sorted(ours) == sorted(theirs) and all(torch.equal(ours[key], theirs[key]) for key in ours)


def to_genmo_keys(transformer) -> dict:
    """diffusers Mochi -> Genmo's native names (the inverse of diffusers' converter, which checks it back)."""
    state = {key: value.clone().contiguous() for key, value in transformer.state_dict().items()}

    def swap(value):
        first, second = value.chunk(2, dim=0)
        return torch.cat([second, first])

    out = {"x_embedder.proj.weight": state["patch_embed.proj.weight"], "pos_frequencies": state["pos_frequencies"],
           "x_embedder.proj.bias": state["patch_embed.proj.bias"],
           "final_layer.mod.weight": swap(state["norm_out.linear.weight"]),
           "final_layer.mod.bias": swap(state["norm_out.linear.bias"]),
           "final_layer.linear.weight": state["proj_out.weight"], "final_layer.linear.bias": state["proj_out.bias"]}
    names = {"timestep_embedder.linear_1": "t_embedder.mlp.0", "timestep_embedder.linear_2": "t_embedder.mlp.2",
             "pooler.to_kv": "t5_y_embedder.to_kv", "pooler.to_q": "t5_y_embedder.to_q",
             "pooler.to_out": "t5_y_embedder.to_out", "caption_proj": "t5_yproj"}
    for ours, theirs in names.items():
        for kind in ("weight", "bias"):
            out[f"{theirs}.{kind}"] = state[f"time_embed.{ours}.{kind}"]
    for i in range(LAYERS):
        new, old = f"transformer_blocks.{i}.", f"blocks.{i}."
        last = i == LAYERS - 1
        for kind in ("weight", "bias"):
            out[old + f"mod_x.{kind}"] = state[new + f"norm1.linear.{kind}"]
            out[old + f"mod_y.{kind}"] = state[new + ("norm1_context.linear_1." if last else "norm1_context.linear.")
                                              + kind]
        out[old + "attn.qkv_x.weight"] = torch.cat([state[new + f"attn1.to_{x}.weight"] for x in "qkv"])
        out[old + "attn.qkv_y.weight"] = torch.cat([state[new + f"attn1.add_{x}_proj.weight"] for x in "qkv"])
        for ours, theirs in (("norm_q", "q_norm_x"), ("norm_k", "k_norm_x"), ("norm_added_q", "q_norm_y"),
                             ("norm_added_k", "k_norm_y")):
            out[old + f"attn.{theirs}.weight"] = state[new + f"attn1.{ours}.weight"]
        out[old + "attn.proj_x.weight"] = state[new + "attn1.to_out.0.weight"]
        out[old + "attn.proj_x.bias"] = state[new + "attn1.to_out.0.bias"]
        out[old + "mlp_x.w1.weight"] = swap(state[new + "ff.net.0.proj.weight"])
        out[old + "mlp_x.w2.weight"] = state[new + "ff.net.2.weight"]
        if not last:
            out[old + "attn.proj_y.weight"] = state[new + "attn1.to_add_out.weight"]
            out[old + "attn.proj_y.bias"] = state[new + "attn1.to_add_out.bias"]
            out[old + "mlp_y.w1.weight"] = swap(state[new + "ff_context.net.0.proj.weight"])
            out[old + "mlp_y.w2.weight"] = state[new + "ff_context.net.2.weight"]
    return {key: value.contiguous() for key, value in out.items()}


def test_sampling_matches_the_music_length_is_seeded_and_reports_every_step(loaded):
    music = song(1.0)
    fractions = []
    video = generate_music_video(loaded, music, "a dancer", seed=7, num_frames=0, num_inference_steps=3,
                                 guidance_scale=6.0, width=32, height=32, progress=fractions.append)
    assert frames_for_audio(1.0) == 25  # 6k + 1 frames within 1 s at 30 fps
    assert tuple(video.frames.shape) == (25, 32, 32, 3) and video.fps == FPS
    assert 0.0 <= float(video.frames.min()) and float(video.frames.max()) <= 1.0
    assert video.audio.samples.shape == (2, round(25 / FPS * 22050))  # music ends with the picture
    assert fractions == pytest.approx([1 / 3, 2 / 3, 1.0])
    again = generate_music_video(loaded, music, "a dancer", seed=7, num_inference_steps=3, num_frames=25, width=32,
                                 height=32)
    assert torch.equal(video.frames, again.frames)
    other_music = generate_music_video(loaded, song(1.0, seed=1), "a dancer", seed=7, num_inference_steps=3,
                                       num_frames=25, width=32, height=32)
    assert not torch.equal(video.frames, other_music.frames)  # the music conditions the video


def test_cancel_stops_between_steps_and_bad_requests_say_what_to_use(loaded):
    class Cancelled(Exception):
        pass

    def cancel(fraction):
        raise Cancelled

    with pytest.raises(Cancelled):
        generate_music_video(loaded, song(1.0), "a dancer", seed=0, num_frames=7, num_inference_steps=3, width=16,
                             height=16, progress=cancel)
    with pytest.raises(MusicInfuserError, match="use 7 or 13"):
        generate_music_video(loaded, song(1.0), "x", seed=0, num_frames=10, width=16, height=16)
    with pytest.raises(MusicInfuserError, match="at most 25 frames"):
        generate_music_video(loaded, song(1.0), "x", seed=0, num_frames=31, width=16, height=16)
    with pytest.raises(MusicInfuserError, match="multiples of 16"):
        generate_music_video(loaded, song(1.0), "x", seed=0, num_frames=7, width=20, height=16)


def test_sigma_schedule_is_mochis_linear_quadratic_from_one_to_zero():
    sigmas = sigma_schedule(64)
    assert len(sigmas) == 65 and sigmas[0] == 1.0 and sigmas[-1] == 0.0
    assert all(a > b for a, b in zip(sigmas, sigmas[1:]))
    assert sigmas[32] == pytest.approx(1.0 - 0.025)  # the linear half ends at noise 0.025 below 1


def test_zero_zica_and_lora_sample_plain_mochi(files, loaded):
    """With the adapter zeroed the sampler must reproduce diffusers' MochiPipeline (same seed, schedule, CFG)."""
    from diffusers import MochiPipeline

    zeroed = copy.copy(loaded)
    zeroed.model = copy.deepcopy(loaded.model)
    for name, value in adapter_state(zeroed.model).items():
        if ".lora_B." in name or ".to_out." in name:
            value.zero_()
    music = song(1.0)
    ours = generate_music_video(zeroed, music, "a dancer", seed=5, num_frames=7, num_inference_steps=4,
                                guidance_scale=4.5, width=16, height=16)
    pipe = MochiPipeline.from_pretrained(str(files.mochi_folder))
    pipe.register_to_config(force_zeros_for_empty_prompt=True)  # Genmo's own inference zeroes the empty prompt
    latents = pipe("a dancer", height=16, width=16, num_frames=7, num_inference_steps=4, guidance_scale=4.5,
                   generator=torch.Generator().manual_seed(5), output_type="latent", max_sequence_length=8).frames
    vae = pipe.vae  # diffusers' decode step hard-codes 12 latent channels: the same arithmetic for the tiny VAE
    mean, std = (torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1),
                 torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1))
    with torch.no_grad():
        video = vae.decode(latents * std / vae.config.scaling_factor + mean).sample
    theirs = (video[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 3, 0)
    torch.testing.assert_close(ours.frames, theirs, atol=2e-4, rtol=0)


def test_beat_channels_pulse_on_the_wav2vec2_token_clock():
    from types import SimpleNamespace

    channels = beat_channels(SimpleNamespace(beat_times_s=np.array([0.5, 1.0]), downbeat_times_s=np.array([0.5])),
                             num_tokens=60)
    assert channels.shape == (60, 2) and channels.dtype == np.float32
    peak = int(np.argmax(channels[:, 1]))
    assert peak == 24  # token 24 is centred at 12.5 ms + 24 x 20 ms = 492.5 ms
    assert channels[49, 0] > 0.9 and channels[49, 1] < 1e-6  # the beat at 1 s, not a downbeat
    assert channels[37, 0] < 1e-3  # between beats: silence


def test_beats_condition_only_a_beat_model_and_zero_beat_weights_change_nothing(loaded):
    from dataclasses import replace
    from types import SimpleNamespace

    analysis = SimpleNamespace(beat_times_s=np.arange(0.0, 1.0, 0.25), downbeat_times_s=np.array([0.0]))
    with pytest.raises(MusicInfuserError, match="no beat/downbeat channels"):
        generate_music_video(loaded, song(1.0), "x", seed=0, num_frames=7, width=16, height=16, analysis=analysis)
    beat_loaded = copy.copy(loaded)
    beat_loaded.model = copy.deepcopy(loaded.model)
    beat_loaded.model.config = replace(loaded.model.config, beat_channels=2)
    beat_loaded.model.beat_projection = torch.nn.Linear(2, WIDTH)
    torch.nn.init.zeros_(beat_loaded.model.beat_projection.weight)
    torch.nn.init.zeros_(beat_loaded.model.beat_projection.bias)
    kwargs = dict(seed=3, num_frames=7, num_inference_steps=2, width=16, height=16)
    official = generate_music_video(loaded, song(1.0), "a dancer", **kwargs)
    zero = generate_music_video(beat_loaded, song(1.0), "a dancer", analysis=analysis, **kwargs)
    assert torch.equal(zero.frames, official.frames)  # a zero beat projection: the official model exactly
    torch.nn.init.normal_(beat_loaded.model.beat_projection.weight, std=2.0)
    steered = generate_music_video(beat_loaded, song(1.0), "a dancer", analysis=analysis, **kwargs)
    assert not torch.equal(steered.frames, official.frames)


def test_real_size_official_layout_maps_onto_real_size_mochi_on_the_meta_device():
    """The released file's keys and shapes (rank 64, widths 3072/1536, 48 blocks) fit the real model exactly."""
    from diffusers import MochiTransformer3DModel

    with torch.device("meta"):
        model = MusicInfuser(MochiTransformer3DModel(), MusicInfuserConfig())
        official = {}
        for block in range(48):
            for fused, rows, columns in (("qkv_x", 9216, 3072), ("qkv_y", 9216, 1536), ("proj_x", 3072, 3072),
                                         ("proj_y", 1536, 3072)):
                if fused == "proj_y" and block == 47:
                    continue
                official[f"blocks.{block}.attn.{fused}.lora_A"] = torch.empty(64, columns, dtype=torch.bfloat16)
                official[f"blocks.{block}.attn.{fused}.lora_B"] = torch.empty(rows, 64, dtype=torch.bfloat16)
        for name, rows, columns in (("0", 3072, 768), ("2", 3072, 3072)):
            official[f"audio_projection.projection.{name}.weight"] = torch.empty(rows, columns, dtype=torch.bfloat16)
            official[f"audio_projection.projection.{name}.bias"] = torch.empty(rows, dtype=torch.bfloat16)
        for index in range(16):
            for name in ("to_q", "to_k", "to_v", "to_out"):
                official[f"audio_cross_attn_blocks.{index}.{name}.weight"] = torch.empty(3072, 3072,
                                                                                         dtype=torch.bfloat16)
                official[f"audio_cross_attn_blocks.{index}.{name}.bias"] = torch.empty(3072, dtype=torch.bfloat16)
    ours = official_to_choreo(official, model)
    assert len(ours) == len(adapter_state(model))
    stored_bytes = sum(value.numel() * 2 for value in official.values())
    assert stored_bytes == pytest.approx(1.439e9, rel=1e-3)  # the released musicinfuser.safetensors is ~1.44 GB


def test_command_line_writes_the_video_with_the_music_cut_to_it(files, tmp_path, capsys):
    import soundfile

    from choreo.generators.musicinfuser import main
    from choreo.io.video_export import read_video_info

    soundfile.write(str(tmp_path / "song.wav"), song(0.5).samples.T, 22050)
    assert main(["--mochi", str(files.mochi_folder), "--adapter", str(files.musicinfuser), "--wav2vec2",
                 str(files.wav2vec2), "--audio", str(tmp_path / "song.wav"), "--out", str(tmp_path / "dance.mp4"),
                 "--frames", "0", "--steps", "2", "--width", "32", "--height", "32", "--dtype", "fp32"]) == 0
    info = read_video_info(tmp_path / "dance.mp4")
    assert info.num_frames == 13  # 6k + 1 frames within 0.5 s at 30 fps
    assert info.audio_duration_s == pytest.approx(13 / 30, abs=0.03)  # the song ends with the picture
    assert "musicinfuser steps 2/2" in capsys.readouterr().err

"""Wan-Animate renderer on tiny random diffusers models: file layouts, chunk chaining, adapters, face video."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
diffusers = pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from safetensors.torch import save_file  # noqa: E402

from choreo.checkpoints import CheckpointError  # noqa: E402
from choreo.errors import PoseInputError  # noqa: E402
from choreo.pose.layout import B, FACE  # noqa: E402
from choreo.pose.sequence import PoseSequence2D  # noqa: E402
from choreo.render.wan_animate import (WanAnimateError, WanAnimateFiles, apply_appearance_expert,  # noqa: E402
                                       apply_memory_options, load_wan_animate, plan_chunks, render_face_video,
                                       render_wan_animate, snap_frames, stitch)
from choreo.render.wan_animate.adapters import lora_key_to_diffusers  # noqa: E402
from choreo.render.wan_animate.face_video import head_boxes  # noqa: E402

Z = 4  # latent channels of the tiny VAE / transformer


def tiny_transformer(face_size: int):
    from diffusers import WanAnimateTransformer3DModel

    channels = {str(2 ** i): 4 for i in range(2, 10)}
    return WanAnimateTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=2 * Z + 4, latent_channels=Z,
        out_channels=Z, text_dim=16, freq_dim=16, ffn_dim=16, num_layers=2, image_dim=8, rope_max_seq_len=32,
        motion_encoder_channel_sizes=channels, motion_encoder_size=face_size, motion_style_dim=8, motion_dim=4,
        motion_encoder_dim=8, face_encoder_hidden_dim=8, face_encoder_num_heads=2, inject_face_latents_blocks=2,
        motion_encoder_batch_size=4)


def tiny_pipeline(face_size: int = 16):
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanAnimatePipeline
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel, PreTrainedTokenizerFast,
                              UMT5Config, UMT5EncoderModel)

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=Z, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                           latents_mean=[0.1] * Z, latents_std=[0.9] * Z)
    text_encoder = UMT5EncoderModel(UMT5Config(vocab_size=32, d_model=16, d_kv=4, d_ff=16, num_layers=1, num_heads=2,
                                               relative_attention_num_buckets=8, feed_forward_proj="gated-gelu",
                                               decoder_start_token_id=0, pad_token_id=0))
    image_encoder = CLIPVisionModel(CLIPVisionConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=2,
                                                     num_attention_heads=2, image_size=32, patch_size=8))
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{c: 3 + i for i, c in enumerate("abcdefghijklmnopqrstuvwxyz ")}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                                        unk_token="<unk>")
    return WanAnimatePipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
        scheduler=UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=5.0),
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        image_encoder=image_encoder, transformer=tiny_transformer(face_size))


# diffusers -> Wan original key names: the inverse of diffusers' convert_wan_transformer_to_diffusers,
# checked below by converting back.
TO_ORIGINAL = [
    (r"^scale_shift_table$", "head.modulation"), (r"^proj_out\.", "head.head."),
    (r"^condition_embedder\.time_embedder\.linear_1\.", "time_embedding.0."),
    (r"^condition_embedder\.time_embedder\.linear_2\.", "time_embedding.2."),
    (r"^condition_embedder\.text_embedder\.linear_1\.", "text_embedding.0."),
    (r"^condition_embedder\.text_embedder\.linear_2\.", "text_embedding.2."),
    (r"^condition_embedder\.time_proj\.", "time_projection.1."),
    (r"^condition_embedder\.image_embedder\.norm1\.", "img_emb.proj.0."),
    (r"^condition_embedder\.image_embedder\.ff\.net\.0\.proj\.", "img_emb.proj.1."),
    (r"^condition_embedder\.image_embedder\.ff\.net\.2\.", "img_emb.proj.3."),
    (r"^condition_embedder\.image_embedder\.norm2\.", "img_emb.proj.4."),
    (r"^(blocks\.\d+)\.scale_shift_table$", r"\1.modulation"),
    (r"^(blocks\.\d+)\.attn1\.", r"\1.self_attn."), (r"^(blocks\.\d+)\.attn2\.", r"\1.cross_attn."),
    (r"^(blocks\.\d+\.\w+_attn)\.to_out\.0\.", r"\1.o."), (r"^(blocks\.\d+\.\w+_attn)\.to_([qkv])\.", r"\1.\2."),
    (r"^(blocks\.\d+)\.norm2\.", r"\1.norm3."),
    (r"^(blocks\.\d+)\.ffn\.net\.0\.proj\.", r"\1.ffn.0."), (r"^(blocks\.\d+)\.ffn\.net\.2\.", r"\1.ffn.2."),
    (r"^motion_encoder\.motion_synthesis_weight$", "motion_encoder.dec.direction.weight"),
    (r"^motion_encoder\.conv_in\.weight$", "motion_encoder.enc.net_app.convs.0.0.weight"),
    (r"^motion_encoder\.conv_in\.act_fn\.bias$", "motion_encoder.enc.net_app.convs.0.1.bias"),
    (r"^motion_encoder\.conv_out\.weight$", "motion_encoder.enc.net_app.convs.8.weight"),
    (r"^motion_encoder\.motion_network\.", "motion_encoder.enc.fc."),
    (r"^face_encoder\.(conv1_local|conv2|conv3)\.", r"face_encoder.\1.conv."),
    (r"^face_adapter\.(\d+)\.to_q\.", r"face_adapter.fuser_blocks.\1.linear1_q."),
    (r"^face_adapter\.(\d+)\.to_out\.", r"face_adapter.fuser_blocks.\1.linear2."),
    (r"^face_adapter\.(\d+)\.norm_([qk])\.", r"face_adapter.fuser_blocks.\1.\2_norm."),
]
RES_BLOCK = {"conv1.weight": "conv1.0.weight", "conv1.act_fn.bias": "conv1.1.bias", "conv2.weight": "conv2.1.weight",
             "conv2.act_fn.bias": "conv2.2.bias", "conv_skip.weight": "skip.1.weight"}


def to_original_keys(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        res = re.match(r"^motion_encoder\.res_blocks\.(\d+)\.(.+)$", key)
        kv = re.match(r"^face_adapter\.(\d+)\.to_([kv])\.(weight|bias)$", key)
        if res:
            out[f"motion_encoder.enc.net_app.convs.{int(res[1]) + 1}.{RES_BLOCK[res[2]]}"] = value
        elif kv:
            if kv[2] == "k":
                out[f"face_adapter.fuser_blocks.{kv[1]}.linear1_kv.{kv[3]}"] = torch.cat(
                    [value, state[key.replace(".to_k.", ".to_v.")]])
        else:
            for pattern, replacement in TO_ORIGINAL:
                key = re.sub(pattern, replacement, key)
            out[key] = value
    for key in out:
        if key.startswith("motion_encoder.enc.net_app.convs.") and key.endswith(".bias"):
            out[key] = out[key].reshape(1, -1, 1, 1)
    return out


@pytest.fixture(scope="module")
def saved_pipeline(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wan") / "Wan2.2-Animate-tiny"
    pipe = tiny_pipeline()
    pipe.save_pretrained(folder)
    return pipe, folder


@pytest.fixture(scope="module")
def loaded(saved_pipeline):
    return apply_memory_options(load_wan_animate(saved_pipeline[1], dtype="fp32"), "none", device="cpu")


def dance(num_frames: int, size: int = 64, with_face: bool = False) -> PoseSequence2D:
    rng = np.random.default_rng(1)
    keypoints = np.repeat(rng.uniform(8, size - 8, (1, 136, 2)), num_frames, axis=0)
    keypoints += np.linspace(0, 4, num_frames)[:, None, None]
    confidence = np.ones((num_frames, 136), np.float32)
    if not with_face:
        confidence[:, FACE] = 0
    return PoseSequence2D(keypoints.astype(np.float32), confidence, size, size, 15.0)


def test_chunk_plan_snaps_covers_and_stitches():
    assert [snap_frames(n) for n in (1, 2, 5, 77, 78)] == [1, 5, 5, 77, 81]
    assert snap_frames(80, "down") == 77
    for total in (1, 13, 77, 78, 300):
        chunks = plan_chunks(total, 77, 5)
        assert all((c.length - 1) % 4 == 0 and c.length <= 77 for c in chunks)
        assert chunks[0].start == 0 and chunks[0].cond_frames == 0 and chunks[-1].stop >= total
        for previous, chunk in zip(chunks, chunks[1:]):
            assert chunk.start == previous.stop - 5 and chunk.cond_frames == 5
        outputs = [np.arange(c.start, c.stop) for c in chunks]
        np.testing.assert_array_equal(stitch(outputs, chunks, total), np.arange(total))
        assert chunks[-1].pose_indices(total).max() == total - 1
    assert len(plan_chunks(13, 9, 5)) == 2
    with pytest.raises(WanAnimateError):
        plan_chunks(20, 9, 6)
    with pytest.raises(WanAnimateError):
        plan_chunks(20, 4, 1)


def test_diffusers_folder_round_trip_and_missing_parts(saved_pipeline, loaded, tmp_path):
    pipe, folder = saved_pipeline
    original = pipe.transformer.state_dict()
    for key, value in loaded.transformer.state_dict().items():
        torch.testing.assert_close(value, original[key])
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken, ignore=shutil.ignore_patterns("vae"))
    with pytest.raises(CheckpointError, match="vae/"):
        load_wan_animate(broken)


def test_single_files_in_original_layout_load(tmp_path):
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    pipe = tiny_pipeline(face_size=512)  # the converter's motion-encoder table assumes 512 px faces (7 res blocks)
    support = tmp_path / "support"
    pipe.save_pretrained(tmp_path / "full")
    for part in ("tokenizer", "image_processor", "scheduler"):
        shutil.copytree(tmp_path / "full" / part, support / part)
    for part in ("transformer", "vae", "text_encoder", "image_encoder"):
        (support / part).mkdir(parents=True)
        shutil.copy(tmp_path / "full" / part / "config.json", support / part / "config.json")
    shutil.copy(tmp_path / "full" / "model_index.json", support / "model_index.json")

    diffusers_state = {k: v.contiguous() for k, v in pipe.transformer.state_dict().items()}
    original = to_original_keys(diffusers_state)
    converted = convert_wan_transformer_to_diffusers(dict(original))
    assert set(converted) == set(diffusers_state)
    keys = sorted(original)
    save_file({k: original[k] for k in keys[: len(keys) // 2]}, tmp_path / "wan_animate-00001-of-00002.safetensors")
    save_file({k: original[k] for k in keys[len(keys) // 2:]}, tmp_path / "wan_animate-00002-of-00002.safetensors")
    for name, module in (("vae", pipe.vae), ("umt5", pipe.text_encoder), ("clip", pipe.image_encoder)):
        state = {k: v.contiguous() for k, v in module.state_dict().items() if k != "encoder.embed_tokens.weight"}
        save_file(state, tmp_path / f"{name}.safetensors")  # umT5 keeps its tied embedding once, as shared.weight

    files = WanAnimateFiles(transformer=tmp_path / "wan_animate-00002-of-00002.safetensors",
                            vae=tmp_path / "vae.safetensors", text_encoder=tmp_path / "umt5.safetensors",
                            image_encoder=tmp_path / "clip.safetensors", support_dir=support)
    reloaded = load_wan_animate(files, dtype="fp32")
    for name in ("transformer", "vae", "text_encoder", "image_encoder"):
        expected = getattr(pipe, name).state_dict()
        for key, value in getattr(reloaded, name).state_dict().items():
            torch.testing.assert_close(value, expected[key], msg=f"{name}.{key}")

    (tmp_path / "wan_animate-00001-of-00002.safetensors").unlink()
    with pytest.raises(CheckpointError, match="00001-of-00002"):
        load_wan_animate(files)


def test_two_chunks_render_and_chain(loaded, monkeypatch):
    fed = []
    prepare = loaded.prepare_prev_segment_cond_latents

    def spy(previous, *args, **kwargs):
        fed.append(None if previous is None else previous.clone())
        return prepare(previous, *args, **kwargs)

    monkeypatch.setattr(loaded, "prepare_prev_segment_cond_latents", spy)
    pose = dance(13)
    reference = np.random.default_rng(2).integers(0, 256, (64, 48, 3), dtype=np.uint8)
    fractions = []
    video = render_wan_animate(loaded, reference, pose, fps=15.0, prompt="a dancer", num_inference_steps=2,
                               seed=3, chunk_frames=9, continue_frames=5, width=32, height=32,
                               progress=fractions.append)
    assert video.shape == (13, 32, 32, 3) and video.dtype == np.uint8
    assert fed[0] is None and fed[1].shape == (1, 3, 5, 32, 32)
    chained = ((fed[1][0].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).numpy()
    np.testing.assert_array_equal(chained, video[4:9])  # chunk 1's last 5 frames
    assert fractions == [0.25, 0.5, 0.75, 1.0]

    def cancel(fraction):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        render_wan_animate(loaded, reference, pose, num_inference_steps=2, chunk_frames=9, width=32, height=32,
                           progress=cancel)


def test_body_adapter_and_lora_hooks(loaded, tmp_path):
    transformer = loaded.transformer
    conv = transformer.pose_patch_embedding
    new_weight, new_bias = torch.randn_like(conv.weight), torch.randn_like(conv.bias)
    save_file({"pipe.animate_adapter.pose_patch_embedding.weight": new_weight,
               "pipe.animate_adapter.pose_patch_embedding.bias": new_bias,
               "pipe.animate_adapter.face_adapter.ignored": torch.zeros(2)}, tmp_path / "Adapter.safetensors")
    rank = 3
    q, ffn = transformer.blocks[0].attn1.to_q, transformer.blocks[1].ffn.net[2]
    lora = {"blocks.0.self_attn.q.lora_A.default.weight": torch.randn(rank, q.in_features),
            "blocks.0.self_attn.q.lora_B.default.weight": torch.randn(q.out_features, rank),
            "diffusion_model.blocks.1.ffn.2.lora_down.weight": torch.randn(rank, ffn.in_features),
            "diffusion_model.blocks.1.ffn.2.lora_up.weight": torch.randn(ffn.out_features, rank)}
    save_file(lora, tmp_path / "LoRA.safetensors")
    pose_latents = torch.randn(1, Z, 2, 4, 4)
    x_q, x_f = torch.randn(3, q.in_features), torch.randn(3, ffn.in_features)
    plain = (conv(pose_latents), q(x_q), ffn(x_f))
    with torch.no_grad(), apply_appearance_expert(transformer, tmp_path / "Adapter.safetensors",
                                                  tmp_path / "LoRA.safetensors", 0.5) as expert:
        assert sorted(expert.patched_modules) == ["blocks.0.attn1.to_q", "blocks.1.ffn.net.2", "pose_patch_embedding"]
        expected_conv = torch.nn.functional.conv3d(pose_latents, new_weight, new_bias, stride=conv.stride)
        torch.testing.assert_close(conv(pose_latents), expected_conv)
        a, b = lora["blocks.0.self_attn.q.lora_A.default.weight"], lora["blocks.0.self_attn.q.lora_B.default.weight"]
        torch.testing.assert_close(q(x_q), x_q @ (q.weight + 0.5 * b @ a).T + q.bias)
        a = lora["diffusion_model.blocks.1.ffn.2.lora_down.weight"]
        b = lora["diffusion_model.blocks.1.ffn.2.lora_up.weight"]
        torch.testing.assert_close(ffn(x_f), x_f @ (ffn.weight + 0.5 * b @ a).T + ffn.bias)
    with torch.no_grad():
        for before, after in zip(plain, (conv(pose_latents), q(x_q), ffn(x_f))):
            torch.testing.assert_close(before, after)

    assert lora_key_to_diffusers("blocks.7.cross_attn.o.lora_B.weight") == ("blocks.7.attn2.to_out.0", "B")
    assert lora_key_to_diffusers("transformer.blocks.2.attn1.to_v.lora_A.weight") == ("blocks.2.attn1.to_v", "A")
    with pytest.raises(CheckpointError):
        lora_key_to_diffusers("blocks.0.norm3.lora_A.weight")
    save_file({"pose_patch_embedding.weight": torch.zeros(3, 3, 1, 2, 2)}, tmp_path / "wrong.safetensors")
    with pytest.raises(CheckpointError, match="shape"):
        apply_appearance_expert(transformer, tmp_path / "wrong.safetensors")


def test_face_video_follows_head_and_falls_back_to_reference():
    reference = np.zeros((64, 64, 3), np.uint8)
    reference[10:20, 28:36] = 255  # a bright "face" near the reference head
    reference_pose = dance(1)
    still = dance(6)
    faces = render_face_video(still, reference, reference_pose, size=512)
    assert faces.shape == (6, 512, 512, 3) and faces.dtype == np.uint8

    headless = PoseSequence2D(still.keypoints_px, np.zeros_like(still.confidence), 64, 64, 15.0)
    plain = render_face_video(headless, reference, reference_pose, size=64)
    assert all(np.array_equal(frame, plain[0]) for frame in plain)
    _, found = head_boxes(headless)
    assert not found.any()

    tilted = dance(2)
    kp = tilted.keypoints_px.copy()
    kp[1, B["right_eye"]] = kp[1, B["left_eye"]] - [10, 10]  # left eye lower: head rolled clockwise on screen
    kp[0, B["right_eye"]] = kp[0, B["left_eye"]] - [10, 0]
    dot = np.zeros((64, 64, 3), np.uint8)
    dot[8:12, 37:41] = 255  # right of the fallback face box's centre (32, 9.6), side 16
    rolled = PoseSequence2D(kp, tilted.confidence, 64, 64, 15.0)
    crops = render_face_video(rolled, dot, None, size=64)
    ys, xs = [np.nonzero(frame[..., 0] > 100) for frame in crops][1]
    ys0, _ = np.nonzero(crops[0][..., 0] > 100)
    assert ys.mean() > ys0.mean()  # clockwise turn moves a point right of centre downwards

    landmarks = render_face_video(dance(3, with_face=True), reference, reference_pose, size=128, source="landmarks")
    assert landmarks.shape == (3, 128, 128, 3) and landmarks.max() > 0
    with pytest.raises(PoseInputError, match="face keypoints"):
        render_face_video(still, reference, None, source="landmarks")


def test_nodes_load_and_render_through_the_pack(saved_pipeline, pack):
    import importlib

    nodes = importlib.import_module(f"{pack.__name__}.nodes.wan_animate_nodes")
    for cls in (nodes.ChoreoLoadWanAnimate, nodes.ChoreoWanAnimateRender):
        spec = cls.INPUT_TYPES()
        assert cls.CATEGORY.startswith("Choreo/") and len(cls.DESCRIPTION) > 40
        for name, entry in {**spec["required"], **spec.get("optional", {})}.items():
            assert len(entry) == 2 and entry[1].get("tooltip"), name
    loader = nodes.ChoreoLoadWanAnimate()
    (pipe,) = loader.load("diffusers folder", str(saved_pipeline[1]), "unused.safetensors", "unused", "unused",
                          "unused", "fp32", "none", False)
    (again,) = loader.load("diffusers folder", str(saved_pipeline[1]), "unused.safetensors", "unused", "unused",
                           "unused", "fp32", "none", False)
    assert again is pipe  # one model cache: loaded once
    with pytest.raises(ValueError, match="Wan2.2-Animate-14B-Diffusers"):  # the pack's own CheckpointError
        loader.load("diffusers folder", "no-such-folder", "x", "x", "x", "x", "fp32", "none", False)
    picture = torch.full((1, 40, 32, 3), 0.5)
    (images,) = nodes.ChoreoWanAnimateRender().render(pipe, picture, dance(5), "a dancer", "", 32, 32, 1, 1.0, 0,
                                                      77, 5, "reference")
    assert images.shape == (5, 32, 32, 3) and images.dtype == torch.float32

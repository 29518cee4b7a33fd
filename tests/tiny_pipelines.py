"""Tiny random-weight diffusers pipelines, built fully offline, for tests.

Each ``build_*`` function assembles a pipeline from tiny components (configs
modelled on diffusers' own ``get_dummy_components`` test helpers), builds its
tokenizer in memory (no hub files, no sentencepiece), puts text encoders in
``.eval()``, calls ``save_pretrained(folder)`` and returns ``folder``.  The
folder loads back with ``diffusers.DiffusionPipeline.from_pretrained(folder)``
under ``HF_HUB_OFFLINE=1`` and generates frames on the CPU in well under a
second.  Weights are random, so the frames are noise, but shapes, callbacks,
seeding and cancellation behave like a real model's.  ``make_*`` return the
same pipelines in memory, unsaved.  Build them once per session (pytest
``tmp_path_factory``) rather than committing binaries.

MEASURED (torch 2.13.0+cpu, diffusers 0.42.1, transformers 5.24.0, 2 shared
CPU cores; every call below used ``prompt=...`` as a keyword,
``num_inference_steps=2``, ``guidance_scale=1.0``,
``generator=torch.Generator("cpu").manual_seed(0)``; timings are best of 3
with another test suite competing for the cores; worst runs were up to ~10x
slower)

family      | folder | build+save | load   | generate (2 steps)
------------+--------+------------+--------+-----------------------------
animatediff | 2.3 MB | 0.09 s     | 0.09 s | 0.20 s 8f 64x64, 0.30 s 16f 64x64
ltx         | 0.6 MB | 0.02 s     | 0.03 s | 0.02 s 9f 32x32
wan         | 0.3 MB | 0.03 s     | 0.04 s | 0.03 s 9f 32x32
sd (image)  | 1.4 MB | 0.04 s     | 0.06 s | 0.04 s 64x64
ltx_i2v     | 0.6 MB | 0.02 s     | 0.03 s | 0.03 s 9f 32x32
Conditioning families (``build_conditioning``; loaded under heavy contention,
so slower than the figures above): wan_i2v / wan_flf2v build 0.2-0.8 s,
load 0.2 s, 1.5-2 s a call; wan_vace 0.6 s, 0.2 s, 1-1.8 s; ltx_condition
0.2 s, 0.2 s, 0.6-0.9 s (all 9f 32x32).  Wan i2v and VACE need ``ftfy``.
With guidance_scale=7.5 (CFG) and 4 steps, animatediff 16f 64x64 took 1.3 s
(2.8 s under contention).  Call kwargs used (plus the common ones above):
- animatediff: num_frames=8, height=64, width=64
- ltx, wan: num_frames=9, height=32, width=32, max_sequence_length=16
- ltx_i2v: as ltx plus image=<PIL image or (1, 3, H, W) tensor in [0, 1]>
- sd: height=64, width=64
Importing torch + diffusers costs ~4 s and is the largest cost.

Loaded classes: AnimateDiffPipeline (unet reloads as UNetMotionModel),
LTXPipeline, WanPipeline, StableDiffusionPipeline, LTXImageToVideoPipeline.
``LTXImageToVideoPipeline.__call__``'s first positional parameter is
``image``, so always pass ``prompt=`` by keyword.

Size / frame constraints (checked by running the pipelines, not from the docs):
- animatediff: height/width multiple of 8 (36 -> ValueError; 40 and 64x48
  work). Any num_frames 1..32 comes back exactly (1, 5, 8, 16, 24 tried);
  33 -> RuntimeError (motion module max_seq_length=32).
  ``pipe.vae_scale_factor == 2`` for this tiny VAE (8 in real SD), and
  unet sample_size is 16, so omitting height/width gives 32x32 (sd too).
- ltx: height/width multiple of 32 (48 -> ValueError; 64x32 works). The tiny
  VAE compresses 4x in space and time (real LTX: 32x, 8x, hence 8k+1), and
  the output has ((num_frames - 1) // 4) * 4 + 1 frames with no warning:
  8 -> 5, 16 -> 13, 9 -> 9, 17 -> 17, 1 -> 1.  Use frames actually returned.
- wan: height/width multiple of 16 (24 -> ValueError; 16, 48 work).
  num_frames is rounded to (num_frames // 4) * 4 + 1 with a logged
  warning: 8 -> 9, 16 -> 17. Spatial factor 8, temporal 4.
- sd: height/width multiple of 8 (36 -> ValueError; 40, 128x96 work).

Output with output_type="np": float32 ndarray in [0, 1]
- animatediff (1, F, H, W, 3) in ``.frames``; ltx / ltx_i2v / wan
  (1, F, H, W, 3) in ``.frames``; sd (1, H, W, 3) in ``.images``.
  Wan's random VAE gives low-contrast frames (values ~0.27-0.74).
Default output_type:
- animatediff, ltx, ltx_i2v: "pil" -> ``.frames`` is list (batch, len 1) of
  list of F PIL.Image (size (W, H)).  sd: ``.images`` list of 1 PIL.Image.
- wan: the default is "np" (not "pil"): ``.frames`` is the ndarray above.

callback_on_step_end(pipe, i, t, kwargs) with
callback_on_step_end_tensor_inputs=["latents"] fires once per step (2 calls
for 2 steps); ``pipe._callback_tensor_inputs`` is ["latents", "prompt_embeds",
"negative_prompt_embeds"] everywhere.  latents shape at the calls above:
- animatediff [B, C, F, h, w] = (1, 4, 8, 32, 32); vae.config.latent_channels 4
- ltx, ltx_i2v packed [B, tokens, C] = (1, 192, 8) (3 latent frames * 8 * 8);
  vae.config.latent_channels 8.  Unpack with
  ``pipe._unpack_latents(lat, 3, 8, 8, pipe.transformer_spatial_patch_size,
  pipe.transformer_temporal_patch_size)`` -> (1, 8, 3, 8, 8).
- wan [B, C, F, h, w] = (1, 16, 3, 4, 4); AutoencoderKLWan has NO
  ``config.latent_channels``: use ``vae.config.z_dim`` (16).
- sd [B, C, h, w] = (1, 4, 32, 32); vae.config.latent_channels 4.
Timesteps seen: DDIM (animatediff, sd) 501, 1; LTX 1000, 500; Wan 1000, 46.8.

Determinism: same seed twice -> max abs diff 0.0 in every family; seed 1 vs
seed 0 differs (0.12-1.0).  In-memory ``make_*`` pipeline vs its saved and
reloaded copy: animatediff 0.0, sd 0.0, ltx_i2v 0.0, ltx 5.4e-7, wan 1.2e-7
(compare with atol ~1e-5).

Cancellation: an exception raised inside callback_on_step_end propagates out
of ``pipe(...)`` at once (step 0, no output); the same pipeline then runs
again normally and gives identical frames for the same seed (diff 0.0).
Setting ``pipe._interrupt = True`` in the callback instead skips the
remaining steps but still decodes and returns full-shape frames.
"""

from __future__ import annotations

from pathlib import Path

# torch, diffusers and transformers are imported inside the functions, so that
# importing this module never fails where they are not installed.

__all__ = [
    "FAMILIES",
    "CONDITIONING_FAMILIES",
    "build_conditioning",
    "build_text_to_video",
    "build_image_pipeline",
    "build_image_to_video",
    "make_text_to_video",
    "make_image_pipeline",
    "make_conditioning",
    "make_image_to_video",
    "tiny_clip_tokenizer",
    "tiny_t5_tokenizer",
]

FAMILIES = ("animatediff", "ltx", "wan")
UNET_CHANNELS = (16, 32)  # shared by the SD UNet and the AnimateDiff motion adapter


# --------------------------------------------------------------------------- #
# Tokenizers, built in memory (transformers 5)
# --------------------------------------------------------------------------- #
def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP byte -> printable unicode symbol table."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def tiny_clip_tokenizer():
    """A byte-level BPE CLIPTokenizer (519 ids; bos 517, eos = pad 518) built without files."""
    from transformers import CLIPTokenizer

    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols]
    merges = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("i", "n"), ("o", "n</w>")]
    tokens += [a + b for a, b in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def tiny_t5_tokenizer():
    """A unigram T5Tokenizer (224 ids: pad 0, eos 1, unk 2, ASCII, 100 extra ids) built without files."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(chr(c), -3.0) for c in range(33, 127)]
    vocab += [("▁" + chr(c), -2.5) for c in range(ord("a"), ord("z") + 1)]
    vocab += [(f"<extra_id_{i}>", 0.0) for i in range(99, -1, -1)]
    return T5Tokenizer(vocab=vocab, extra_ids=100, model_max_length=512)


def _clip_text_encoder(tokenizer, hidden_size: int = 32, layers: int = 2):
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=hidden_size,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=layers,
        vocab_size=len(tokenizer),
        max_position_embeddings=77,
    )
    return CLIPTextModel(config).eval()


def _t5_config(tokenizer, d_model: int = 32):
    return dict(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_ff=37,
        d_kv=8,
        num_heads=4,
        num_layers=2,
        relative_attention_num_buckets=8,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )


def _t5_text_encoder(tokenizer, d_model: int = 32):
    from transformers import T5Config, T5EncoderModel

    return T5EncoderModel(T5Config(**_t5_config(tokenizer, d_model))).eval()


def _umt5_text_encoder(tokenizer, d_model: int = 32):
    from transformers import UMT5Config, UMT5EncoderModel

    return UMT5EncoderModel(UMT5Config(**_t5_config(tokenizer, d_model))).eval()


def _save(pipe, folder: Path) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------- #
# Components
# --------------------------------------------------------------------------- #
def _sd_unet_vae_scheduler(unet_channels=UNET_CHANNELS, vae_channels=(8, 16)):
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=unet_channels,
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        # cross-attention only at the low-resolution level: full-resolution
        # self-attention was ~60% of the run time.
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=2,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=list(vae_channels),
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * len(vae_channels),
        up_block_types=["UpDecoderBlock2D"] * len(vae_channels),
        latent_channels=4,
        norm_num_groups=2,
        sample_size=32,
        mid_block_add_attention=False,
    )
    return unet, vae, scheduler


def _ltx_components():
    import torch
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXVideoTransformer3DModel

    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=4,
        attention_head_dim=8,
        cross_attention_dim=32,
        num_layers=1,
        caption_channels=32,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, False, False),
        decoder_spatio_temporal_scaling=(True, True, False, False),
        decoder_inject_noise=(False, False, False, False, False),
        upsample_residual=(False, False, False, False),
        upsample_factor=(1, 1, 1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    vae.use_framewise_encoding = False
    vae.use_framewise_decoding = False
    scheduler = FlowMatchEulerDiscreteScheduler()
    tokenizer = tiny_t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = _t5_text_encoder(tokenizer)
    return dict(transformer=transformer, vae=vae, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer)


# --------------------------------------------------------------------------- #
# Builders
# --------------------------------------------------------------------------- #
def make_text_to_video(family: str = "animatediff"):
    """Return an in-memory tiny text-to-video pipeline of ``family`` (not saved)."""
    import torch

    if family == "animatediff":
        from diffusers import AnimateDiffPipeline, MotionAdapter

        unet, vae, scheduler = _sd_unet_vae_scheduler()
        tokenizer = tiny_clip_tokenizer()
        torch.manual_seed(0)
        text_encoder = _clip_text_encoder(tokenizer)
        torch.manual_seed(0)
        motion_adapter = MotionAdapter(
            block_out_channels=UNET_CHANNELS,
            motion_layers_per_block=1,
            motion_norm_num_groups=2,
            motion_num_attention_heads=4,
        )
        pipe = AnimateDiffPipeline(
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            unet=unet,
            motion_adapter=motion_adapter,
            scheduler=scheduler,
            feature_extractor=None,
            image_encoder=None,
        )
    elif family == "ltx":
        from diffusers import LTXPipeline

        pipe = LTXPipeline(**_ltx_components())
    elif family == "wan":
        from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel

        torch.manual_seed(0)
        vae = AutoencoderKLWan(
            base_dim=3,
            z_dim=16,
            dim_mult=[1, 1, 1, 1],
            num_res_blocks=1,
            temperal_downsample=[False, True, True],
        )
        scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)
        tokenizer = tiny_t5_tokenizer()
        torch.manual_seed(0)
        text_encoder = _umt5_text_encoder(tokenizer)
        torch.manual_seed(0)
        transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2),
            num_attention_heads=2,
            attention_head_dim=12,
            in_channels=16,
            out_channels=16,
            text_dim=32,
            freq_dim=256,
            ffn_dim=32,
            num_layers=2,
            cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
            rope_max_seq_len=32,
        )
        pipe = WanPipeline(
            tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, vae=vae, scheduler=scheduler
        )
    else:
        raise ValueError(f"unknown family {family!r}; expected one of {FAMILIES}")
    return pipe


def build_text_to_video(folder: Path, family: str = "animatediff") -> Path:
    """Save a tiny text-to-video pipeline of ``family`` into ``folder`` and return it."""
    return _save(make_text_to_video(family), folder)


def make_image_pipeline():
    """Return an in-memory tiny StableDiffusionPipeline (not saved)."""
    import torch
    from diffusers import StableDiffusionPipeline

    unet, vae, scheduler = _sd_unet_vae_scheduler()
    tokenizer = tiny_clip_tokenizer()
    torch.manual_seed(0)
    text_encoder = _clip_text_encoder(tokenizer)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    return pipe


def build_image_pipeline(folder: Path) -> Path:
    """Save a tiny StableDiffusionPipeline (text-to-image) into ``folder`` and return it."""
    return _save(make_image_pipeline(), folder)


def make_image_to_video():
    """Return an in-memory tiny LTXImageToVideoPipeline (not saved)."""
    from diffusers import LTXImageToVideoPipeline

    return LTXImageToVideoPipeline(**_ltx_components())


def build_image_to_video(folder: Path) -> Path:
    """Save a tiny LTXImageToVideoPipeline (first frame from ``image=``) into ``folder`` and return it."""
    return _save(make_image_to_video(), folder)


def build_lora(folder: Path, pipeline_folder: Path) -> Path:
    """A tiny LoRA for the image pipeline's UNet (random A and B, so it visibly changes the output)."""
    from diffusers import StableDiffusionPipeline
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = StableDiffusionPipeline.from_pretrained(pipeline_folder)
    pipe.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"], init_lora_weights=False))
    StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=get_peft_model_state_dict(pipe.unet))
    return Path(folder)


# --------------------------------------------------------------------------- #
# Conditioning pipelines (issue 12, conditioning media): Wan image-to-video
# (first / last frame), Wan VACE (video, mask, reference images) and LTX
# condition (images or videos at frame indices).  Configs follow diffusers'
# own tests (tests/pipelines/wan/test_wan_image_to_video.py, test_wan_vace.py,
# tests/pipelines/ltx/test_ltx_condition.py), with the in-memory tokenizers.
# Call them like ``wan``: num_frames=9, height=32, width=32,
# max_sequence_length=16, output_type="np".
# --------------------------------------------------------------------------- #
CONDITIONING_FAMILIES = ("wan_i2v", "wan_flf2v", "wan_vace", "ltx_condition")


def _wan_vae_text():
    import torch
    from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler

    torch.manual_seed(0)
    vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True])
    tokenizer = tiny_t5_tokenizer()
    torch.manual_seed(0)
    text_encoder = _umt5_text_encoder(tokenizer)
    return dict(vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0), tokenizer=tokenizer, text_encoder=text_encoder)


_WAN_TRANSFORMER = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, out_channels=16, text_dim=32,
                        freq_dim=256, ffn_dim=32, cross_attn_norm=True, qk_norm="rms_norm_across_heads", rope_max_seq_len=32)


def make_conditioning(family: str = "wan_vace"):
    """Return an in-memory tiny conditioning pipeline of ``family`` (one of CONDITIONING_FAMILIES), not saved."""
    import torch

    if family in ("wan_i2v", "wan_flf2v"):
        from diffusers import WanImageToVideoPipeline, WanTransformer3DModel
        from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

        parts = _wan_vae_text()
        torch.manual_seed(0)
        # 36 input channels: 16 noise + 4 mask + 16 encoded condition frames; image_dim = the CLIP embedding width
        # wan_flf2v (first and last frame, like Wan2.1-FLF2V): the two images' 2 x 1025 CLIP tokens (32x32 patches
        # + class token) get a learned position embedding; a model with one needs last_image, one without refuses it.
        flf2v = {"pos_embed_seq_len": 2 * (32 * 32 + 1)} if family == "wan_flf2v" else {}
        transformer = WanTransformer3DModel(in_channels=36, num_layers=2, image_dim=4, **flf2v, **_WAN_TRANSFORMER)
        torch.manual_seed(0)
        image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2, image_size=32, intermediate_size=16,
            patch_size=1)).eval()
        return WanImageToVideoPipeline(transformer=transformer, image_encoder=image_encoder,
                                       image_processor=CLIPImageProcessor(crop_size=32, size=32), **parts)
    if family == "wan_vace":
        from diffusers import WanVACEPipeline, WanVACETransformer3DModel

        parts = _wan_vae_text()
        torch.manual_seed(0)
        # vace_in_channels 96 = 2 x 16 latent channels (inactive, reactive video) + 64 (the 8x8 mask folded into channels)
        transformer = WanVACETransformer3DModel(in_channels=16, num_layers=3, vace_layers=[0, 2], vace_in_channels=96,
                                                **_WAN_TRANSFORMER)
        return WanVACEPipeline(transformer=transformer, **parts)
    if family == "ltx_condition":
        from diffusers import LTXConditionPipeline

        return LTXConditionPipeline(**_ltx_components())
    raise ValueError(f"unknown family {family!r}; expected one of {CONDITIONING_FAMILIES}")


def build_conditioning(folder: Path, family: str = "wan_vace") -> Path:
    """Save a tiny conditioning pipeline of ``family`` (wan_i2v, wan_flf2v, wan_vace, ltx_condition) into ``folder`` and return it."""
    return _save(make_conditioning(family), folder)

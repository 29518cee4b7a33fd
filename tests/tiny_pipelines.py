"""Tiny random-weight diffusers pipelines, built fully offline, for tests.

Each ``build_*`` function assembles a pipeline from tiny components (configs
modelled on diffusers' own ``get_dummy_components`` test helpers), builds its
tokenizer in memory (no hub, no sentencepiece), puts text encoders in
``.eval()``, calls ``save_pretrained(folder)`` and returns ``folder``.  The
folder loads back with ``diffusers.DiffusionPipeline.from_pretrained(folder)``
under ``HF_HUB_OFFLINE=1`` and generates real (noise-like) frames on the CPU
in a fraction of a second.  Weights are random: the output is meaningless,
but shapes, callbacks, seeds and timing behave like a real model's.

MEASURED FACTS (filled in below, see MEASUREMENTS)
"""

from __future__ import annotations

from pathlib import Path

import torch

__all__ = [
    "FAMILIES",
    "build_text_to_video",
    "build_image_pipeline",
    "build_image_to_video",
    "make_text_to_video",
    "make_image_pipeline",
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
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def tiny_clip_tokenizer():
    """A byte-level BPE CLIPTokenizer (vocab of 517 ids) built without files."""
    from transformers import CLIPTokenizer

    symbols = list(_bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols]
    merges = [("t", "h"), ("th", "e</w>"), ("a", "n"), ("i", "n"), ("o", "n</w>")]
    tokens += [a + b for a, b in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def tiny_t5_tokenizer():
    """A unigram T5Tokenizer (printable ASCII + 100 extra ids) built without files."""
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
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=unet_channels,
        layers_per_block=1,
        sample_size=16,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=2,
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="linear", clip_sample=False, set_alpha_to_one=False
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
    )
    return unet, vae, scheduler


def _ltx_components():
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

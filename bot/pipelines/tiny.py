"""Tiny, randomly initialised pipelines of every family, built offline.

`tiny` has the classes of `damo-vilab/text-to-video-ms-1.7b` (UNet3DConditionModel,
AutoencoderKL, CLIPTextModel, CLIPTokenizer, DDIMScheduler); `tiny-wan`, `tiny-ltx` and
`tiny-cogvideox` those of WanPipeline, LTXPipeline and CogVideoXPipeline.  Each is sized
(a few thousand to ~100 000 weights) so a clip renders on one CPU thread in well under a
second.  Tests, CI and the offline demo use them, so the production code path runs
without downloading weights.  The tokenizers are made here (a byte-level CLIP BPE, a
~120-piece T5 Unigram): the hub's tiny test tokenizers are unreachable offline.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.pipelines.tokenizers import t5_tokenizer

if TYPE_CHECKING:  # torch, diffusers and transformers take seconds to import: only when building
    from diffusers import TextToVideoSDPipeline
    from transformers import CLIPTokenizer, T5Tokenizer

TINY_MODEL_ID = "tiny"
TINY_TEXT_TOKENS = 32  # the tiny T5 families' prompt length (CogVideoX's transformer is built for it)


def _byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values, the alphabet of CLIP's BPE."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += range(ord("®"), ord("ÿ") + 1)
    symbols: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in sorted(symbols)]


def _byte_level_tokenizer() -> CLIPTokenizer:
    from transformers import CLIPTokenizer

    symbols = _byte_symbols()
    vocab = symbols + [s + "</w>" for s in symbols] + ["<|startoftext|>", "<|endoftext|>"]
    with tempfile.TemporaryDirectory() as folder:
        vocab_file = Path(folder) / "vocab.json"
        merges_file = Path(folder) / "merges.txt"
        vocab_file.write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
        merges_file.write_text("#version: 0.2\n")
        return CLIPTokenizer(str(vocab_file), str(merges_file), model_max_length=77)


def build_tiny_pipeline(seed: int = 0, width: int = 8) -> TextToVideoSDPipeline:
    """Build the tiny pipeline; `width` scales the UNet's channels (and its speed)."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, TextToVideoSDPipeline, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    unet = UNet3DConditionModel(
        block_out_channels=(width, width * 2),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
        up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=16,
        attention_head_dim=4,
        norm_num_groups=2,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 8, 8, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        latent_channels=4,
        sample_size=64,
        norm_num_groups=2,
    )
    tokenizer = _byte_level_tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=2,
            vocab_size=len(tokenizer),
            projection_dim=16,
        )
    )
    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="linear",
        clip_sample=False,
        set_alpha_to_one=False,
    )
    return TextToVideoSDPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler
    )


def _t5_encoder(tokenizer: T5Tokenizer, *, umt5: bool = False) -> Any:
    from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

    sizes: dict[str, Any] = {
        "vocab_size": len(tokenizer),
        "d_model": 16,
        "d_kv": 4,
        "d_ff": 32,
        "num_layers": 1,
        "num_heads": 2,
        "relative_attention_num_buckets": 8,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "decoder_start_token_id": tokenizer.pad_token_id,
    }
    if umt5:
        return UMT5EncoderModel(UMT5Config(**sizes))
    return T5EncoderModel(T5Config(**sizes))


def build_tiny_wan(seed: int = 0, layers: int = 1) -> Any:
    """WanPipeline with ~20 000 weights: UMT5 encoder, Wan VAE (4× time, 8× space), one DiT block."""
    import torch
    from diffusers import (
        AutoencoderKLWan,
    )

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer()
    vae = AutoencoderKLWan(
        base_dim=3,
        z_dim=4,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
    )
    return _tiny_wan_pipeline(tokenizer, vae, layers)


def build_tiny_wan22(seed: int = 0, layers: int = 1) -> Any:
    """Wan 2.2 TI2V-5B's shape, tiny: `expand_timesteps` (a timestep per latent token, the picture's
    latent frame kept clean) and its residual, patchified VAE compressing space 16×.  The same
    weights render text (`WanPipeline`) and pictures (`WanImageToVideoPipeline` over the same components)."""
    import torch
    from diffusers import (
        AutoencoderKLWan,
    )

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer()
    vae = AutoencoderKLWan(
        base_dim=4,
        z_dim=4,
        dim_mult=[1, 1, 1, 1],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
        latents_mean=[0.0] * 4,
        latents_std=[1.0] * 4,
        is_residual=True,
        in_channels=12,  # 3 colours × a 2×2 patch
        out_channels=12,
        patch_size=2,
        scale_factor_spatial=16,
        scale_factor_temporal=4,
    )
    return _tiny_wan_pipeline(tokenizer, vae, layers, expand_timesteps=True)


def build_tiny_wan_a14b(seed: int = 0, layers: int = 1) -> Any:
    """Wan 2.2 A14B's shape, tiny: two experts (`transformer` for the high-noise steps,
    `transformer_2` below `boundary_ratio`), each a tiny Wan DiT."""
    import torch
    from diffusers import WanPipeline

    pipe = build_tiny_wan(seed, layers)
    torch.manual_seed(seed + 1)
    return WanPipeline(**pipe.components | {"transformer_2": _tiny_wan_dit(layers)}, boundary_ratio=0.875)


def build_tiny_wan_flf2v(seed: int = 0, layers: int = 1) -> Any:
    """Wan 2.1 FLF2V-14B's shape, tiny: `WanImageToVideoPipeline` with a CLIP image encoder and a DiT
    taking noise, the conditioning latents and their mask (4 + 4 + 4 channels) and both frames'
    image tokens (`pos_embed_seq_len` = 2 × 17: a 4×4 CLIP grid and its class token, twice)."""
    import torch
    from diffusers import WanImageToVideoPipeline
    from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

    text = build_tiny_wan(seed, layers)
    torch.manual_seed(seed + 1)
    vision = CLIPVisionConfig(hidden_size=4, projection_dim=4, num_hidden_layers=2, num_attention_heads=2,
                              image_size=4, intermediate_size=16, patch_size=1)  # fmt: skip
    parts = {name: text.components[name] for name in ("tokenizer", "text_encoder", "vae", "scheduler")}
    dit = _tiny_wan_dit(layers, in_channels=12, image_dim=4, pos_embed_seq_len=2 * (4 * 4 + 1))
    return WanImageToVideoPipeline(
        **parts,
        transformer=dit,
        image_encoder=CLIPVisionModelWithProjection(vision),
        image_processor=CLIPImageProcessor(crop_size=4, size=4),
    )


def _tiny_wan_dit(layers: int, **shape: Any) -> Any:
    from diffusers import WanTransformer3DModel

    options: dict[str, Any] = {"in_channels": 4} | shape
    return WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=2,
        attention_head_dim=8,
        out_channels=4,
        text_dim=16,
        freq_dim=16,
        ffn_dim=16,
        num_layers=layers,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
        **options,
    )


def _tiny_wan_pipeline(tokenizer: Any, vae: Any, layers: int, **options: Any) -> Any:
    """The tiny Wan DiT, UMT5 encoder and scheduler around `vae` (built first: the seed's order)."""
    from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline

    transformer = _tiny_wan_dit(layers)
    return WanPipeline(
        tokenizer=tokenizer,
        text_encoder=_t5_encoder(tokenizer, umt5=True),
        vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        transformer=transformer,
        **options,
    )


def build_tiny_ltx(seed: int = 0, layers: int = 1) -> Any:
    """LTXPipeline with ~100 000 weights: T5 encoder, LTX VAE (8× time and space), one DiT block."""
    import torch
    from diffusers import (
        AutoencoderKLLTXVideo,
        FlowMatchEulerDiscreteScheduler,
        LTXPipeline,
        LTXVideoTransformer3DModel,
    )

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer()
    transformer = LTXVideoTransformer3DModel(
        in_channels=8,
        out_channels=8,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        num_layers=layers,
        caption_channels=16,
    )
    vae = AutoencoderKLLTXVideo(
        in_channels=3,
        out_channels=3,
        latent_channels=8,
        block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1, 1),
        spatio_temporal_scaling=(True, True, True, False),
        decoder_spatio_temporal_scaling=(True, True, True, False),
        decoder_inject_noise=(False,) * 5,
        upsample_residual=(False,) * 4,
        upsample_factor=(1,) * 4,
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    vae.use_framewise_encoding = False  # type: ignore[attr-defined]  # set in __init__, not declared
    vae.use_framewise_decoding = False  # type: ignore[attr-defined]
    return LTXPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=_t5_encoder(tokenizer),
        tokenizer=tokenizer,
        transformer=transformer,
    )


def build_tiny_cogvideox(seed: int = 0, layers: int = 1) -> Any:
    """CogVideoXPipeline with ~75 000 weights: T5 encoder, CogVideoX VAE (4× time, 8× space)."""
    import torch
    from diffusers import (
        AutoencoderKLCogVideoX,
        CogVideoXDDIMScheduler,
        CogVideoXPipeline,
        CogVideoXTransformer3DModel,
    )

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer()
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=8,
        in_channels=4,
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=16,
        num_layers=layers,
        sample_width=8,
        sample_height=8,
        sample_frames=9,
        patch_size=2,
        temporal_compression_ratio=4,
        max_text_seq_length=TINY_TEXT_TOKENS,
    )
    vae = AutoencoderKLCogVideoX(
        in_channels=3,
        out_channels=3,
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )
    return CogVideoXPipeline(
        tokenizer=tokenizer,
        text_encoder=_t5_encoder(tokenizer),
        vae=vae,
        transformer=transformer,
        scheduler=CogVideoXDDIMScheduler(),
    )


def build_tiny(name: str, seed: int = 0, layers: int = 1) -> Any:
    """The tiny pipeline called `name` (one of `registry.TINY_PRESETS`), in eval mode; `layers`: the DiT
    families' transformer blocks (first-block caching needs two).

    Models built from a config start in training mode, where T5's and the DiTs' dropout
    would make every clip of a seed differ (`from_pretrained` switches to eval itself).
    """
    import torch

    from bot.pipelines.ltx2 import build_tiny_ltx2
    from bot.pipelines.sana_video import build_tiny_sana_video

    dits = {
        "tiny-wan": build_tiny_wan,
        "tiny-wan22": build_tiny_wan22,
        "tiny-wan-a14b": build_tiny_wan_a14b,
        "tiny-wan-flf2v": build_tiny_wan_flf2v,
        "tiny-ltx": build_tiny_ltx,
        "tiny-cogvideox": build_tiny_cogvideox,
        "tiny-ltx2": build_tiny_ltx2,
        "tiny-sana-video": build_tiny_sana_video,
    }
    pipe: Any = build_tiny_pipeline(seed) if name == "tiny" else dits[name](seed, layers=layers)
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    return pipe

"""A tiny, randomly initialised ModelScope text-to-video pipeline built offline.

Same classes as `damo-vilab/text-to-video-ms-1.7b` (UNet3DConditionModel, AutoencoderKL,
CLIPTextModel, CLIPTokenizer, DDIMScheduler), sized so a clip renders on a CPU in well
under a second.  Tests, CI and the offline demo use it, so the production code path runs
without downloading weights.  The tokenizer is byte-level and made here: the hub's tiny
test tokenizer is unreachable offline.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch, diffusers and transformers take seconds to import: only when building
    from diffusers import TextToVideoSDPipeline
    from transformers import CLIPTokenizer

TINY_MODEL_ID = "tiny"


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

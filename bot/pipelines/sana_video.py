"""SANA-Video: `SanaVideoPipeline`, a 2 B linear-attention DiT (Gemma 2 text encoder, Wan's VAE),
small and fast for its size.

Checked against diffusers 0.42.1 (`pipelines/sana_video/pipeline_sana_video.py`): the call names
the frame count `frames` (not `num_frames`), bins the size to its aspect-ratio table unless
`use_resolution_binning=False` (the bot chooses sizes itself), takes `max_sequence_length`
(300) and has `callback_on_step_end`.  The tiny build follows diffusers' own test components
(`tests/pipelines/sana_video/test_sana_video.py`) with the tokenizer made in `bot.pipelines.tiny`.
"""

from __future__ import annotations

from typing import Any

from bot.pipelines.spec import COMPONENT_FOLDERS, Family, FrameRule, Preset, StepHook

FAMILY = Family(
    name="sana-video",
    title="SANA-Video",
    pipeline_classes=("SanaVideoPipeline",),
    frames=FrameRule(step=4, offset=1, least=5),  # Wan's VAE: 4× in time, plus the first frame
    size_multiple=32,  # its transformer's patching needs latents in multiples of 4 (sizes of 32)
    max_prompt_tokens=300,
    step_hook=StepHook.ON_STEP_END,
    download_include=COMPONENT_FOLDERS,
    takes_max_sequence_length=True,
    frames_argument="frames",
    fixed_call=(("use_resolution_binning", False),),
)

SANA_VIDEO_2B = Preset(
    id="Efficient-Large-Model/SANA-Video_2B_480p_diffusers",
    family=FAMILY,
    licence="NVIDIA License (see the model card)",
    licence_url="https://huggingface.co/Efficient-Large-Model/SANA-Video_2B_480p_diffusers",
    width=832,
    height=480,
    fps=16,
    frames=49,
    max_frames=81,
    steps=50,
    guidance=6.0,
    dtypes=(("default", "bfloat16"), ("vae", "float32")),
    notes="2 B parameters; diffusers' example uses 50 steps, guidance 6, 81 frames at 832x480",
)

PRESETS = (SANA_VIDEO_2B,)


def build_tiny_sana_video(seed: int = 0, layers: int = 1) -> Any:
    """SanaVideoPipeline with ~25 000 random weights: a one-layer Gemma 2 encoder, Wan's VAE."""
    import torch
    from diffusers import (
        AutoencoderKLWan,
        DPMSolverMultistepScheduler,
        SanaVideoPipeline,
        SanaVideoTransformer3DModel,
    )
    from transformers import Gemma2Config, Gemma2Model

    from bot.pipelines.tokenizers import t5_tokenizer

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
    text_encoder = Gemma2Model(
        Gemma2Config(
            head_dim=8,
            hidden_size=8,
            intermediate_size=16,
            max_position_embeddings=2048,
            num_attention_heads=2,
            num_hidden_layers=1,
            num_key_value_heads=2,
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
            bos_token_id=tokenizer.eos_token_id,
            attn_implementation="eager",  # type: ignore[call-arg]  # a PretrainedConfig keyword
        )
    )
    transformer = SanaVideoTransformer3DModel(
        in_channels=4,
        out_channels=4,
        num_attention_heads=2,
        attention_head_dim=8,
        num_layers=layers,
        num_cross_attention_heads=2,
        cross_attention_head_dim=8,
        cross_attention_dim=16,
        caption_channels=8,
        mlp_ratio=2.5,
        dropout=0.0,
        attention_bias=False,
        sample_size=8,
        patch_size=(1, 2, 2),
        norm_elementwise_affine=False,
        norm_eps=1e-6,
        qk_norm="rms_norm_across_heads",
        rope_max_seq_len=32,
    )
    return SanaVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=text_encoder,
        vae=vae,
        transformer=transformer,
        scheduler=DPMSolverMultistepScheduler(),
    )

"""LTX-2: `LTX2Pipeline` makes video and its soundtrack in one pass (a DiT with an audio
stream beside the video stream, a Gemma 3 text encoder, a video VAE, an audio VAE and a
vocoder); `LTX2ImageToVideoPipeline` starts from a picture.

Checked against diffusers 0.42.1 (`pipelines/ltx2/pipeline_ltx2.py`): the call returns
`frames` and `audio` (a waveform per clip, `vocoder.config.output_sampling_rate` samples a
second, 24 kHz for the published weights), takes `frame_rate` and `max_sequence_length`, and
has `callback_on_step_end`.  The tiny build below follows diffusers' own test components
(`tests/pipelines/ltx2/testing_utils.py`) with a text encoder and tokenizer made here.
"""

from __future__ import annotations

from typing import Any

from bot.pipelines.spec import COMPONENT_FOLDERS, Family, FrameRule, Preset, StepHook

FAMILY = Family(
    name="ltx2",
    title="LTX-2",
    pipeline_classes=("LTX2Pipeline",),
    frames=FrameRule(step=8, offset=1, least=9),  # the video VAE compresses time 8×, plus the first frame
    size_multiple=32,
    max_prompt_tokens=1024,  # the pipeline's max_sequence_length default
    step_hook=StepHook.ON_STEP_END,
    download_include=(*COMPONENT_FOLDERS, "audio_vae/*", "connectors/*", "vocoder/*"),
    takes_max_sequence_length=True,
    takes_frame_rate=True,
    makes_audio=True,
    unguided_call=(
        ("audio_guidance_scale", 1.0),  # else 7: the pipeline would run a negative pass for the audio
        ("stg_scale", 0.0),
        ("audio_stg_scale", 0.0),
        ("modality_scale", 1.0),
        ("audio_modality_scale", 1.0),
    ),
)

# free for research and for commercial use by people and companies with less than USD 10 million
# annual revenue; above that a paid licence from Lightricks is needed (docs/models.md says so)
LICENCE = "LTX-2 Community License"

LTX2 = Preset(
    id="Lightricks/LTX-2",
    family=FAMILY,
    licence=LICENCE,
    licence_url="https://huggingface.co/Lightricks/LTX-2",
    width=768,
    height=512,
    fps=24,
    frames=97,  # 4 s; the card's examples make 121 (5 s)
    max_frames=257,
    steps=30,  # diffusers' default and its example's
    guidance=3.0,
    dtypes=(("default", "bfloat16"),),
    notes="video and synchronised audio in one pass; 19 B parameters (bf16 ~40 GB) plus Gemma 3 12B",
)

PRESETS = (LTX2,)

TINY_SAMPLE_RATE = 16_000  # an AAC rate; the vocoder upsamples by the mel hop, so seconds stay seconds


def build_tiny_ltx2(seed: int = 0, layers: int = 1) -> Any:
    """LTX2Pipeline with ~60 000 random weights: a two-layer Gemma 3 text encoder (with a one-layer
    SigLIP tower, which the class requires), the T5 tokenizer made in `bot.pipelines.tiny`, a
    4×-space/4×-time video VAE, an audio VAE and a vocoder whose upsampling equals the mel hop
    (so a clip's soundtrack lasts as long as its frames).  The parts are made in this order, from
    one seed, so a seed builds the same weights."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2Pipeline

    from bot.pipelines.tokenizers import t5_tokenizer

    torch.manual_seed(seed)
    tokenizer = t5_tokenizer()
    text_encoder, hidden, text_layers = _tiny_gemma(tokenizer)
    transformer = _tiny_ltx2_transformer(hidden, layers)
    connectors = _tiny_connectors(hidden, text_layers)
    vae = _tiny_ltx2_vae()
    audio_vae, vocoder = _tiny_sound()
    return LTX2Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        audio_vae=audio_vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        connectors=connectors,
        transformer=transformer,
        vocoder=vocoder,
    )


def _tiny_gemma(tokenizer: Any) -> tuple[Any, int, int]:
    """A two-layer Gemma 3 (with the one-layer SigLIP tower the class requires); its width and depth."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    vocab = len(tokenizer)
    text_config = {
        "vocab_size": vocab,
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 8,
        "max_position_embeddings": 2048,
        "sliding_window": 64,
        "pad_token_id": tokenizer.pad_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "bos_token_id": tokenizer.eos_token_id,
    }
    vision_config = {
        "hidden_size": 16,
        "intermediate_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "image_size": 16,
        "patch_size": 8,
    }
    text_encoder = Gemma3ForConditionalGeneration(
        Gemma3Config(
            text_config=text_config,
            vision_config=vision_config,
            mm_tokens_per_image=4,
            image_token_index=vocab - 1,
            boi_token_index=vocab - 2,
            eoi_token_index=vocab - 3,
        )
    )
    return text_encoder, text_config["hidden_size"], text_config["num_hidden_layers"]


def _tiny_ltx2_transformer(hidden: int, layers: int) -> Any:
    from diffusers import LTX2VideoTransformer3DModel

    return LTX2VideoTransformer3DModel(
        in_channels=4,
        out_channels=4,
        patch_size=1,
        patch_size_t=1,
        num_attention_heads=2,
        attention_head_dim=8,
        cross_attention_dim=16,
        audio_in_channels=4,
        audio_out_channels=4,
        audio_num_attention_heads=2,
        audio_attention_head_dim=4,
        audio_cross_attention_dim=8,
        num_layers=layers,
        qk_norm="rms_norm_across_heads",
        caption_channels=hidden,
        rope_double_precision=False,
        rope_type="split",
    )


def _tiny_connectors(hidden: int, text_layers: int) -> Any:
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    return LTX2TextConnectors(
        caption_channels=hidden,
        text_proj_in_factor=text_layers + 1,  # every layer's output, and the embeddings
        video_connector_num_attention_heads=2,  # heads × dim = the caption width
        video_connector_attention_head_dim=8,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=2,
        audio_connector_attention_head_dim=8,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32,
        rope_theta=10000.0,
        rope_double_precision=False,
        causal_temporal_positioning=False,
        rope_type="split",
    )


def _tiny_ltx2_vae() -> Any:
    """A 4×-space/4×-time video VAE that decodes whole clips (no framewise pass)."""
    from diffusers import AutoencoderKLLTX2Video

    vae = AutoencoderKLLTX2Video(
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        block_out_channels=(8, 8),
        decoder_block_out_channels=(8, 8),
        layers_per_block=(1, 1),
        decoder_layers_per_block=(1, 1, 1),
        spatio_temporal_scaling=(True, True),
        decoder_spatio_temporal_scaling=(True, True),
        decoder_inject_noise=(False, False, False),
        downsample_type=("spatial", "spatiotemporal"),
        upsample_type=("spatiotemporal", "spatiotemporal"),
        upsample_residual=(False, False),
        upsample_factor=(1, 1),
        timestep_conditioning=False,
        patch_size=1,
        patch_size_t=1,
        encoder_causal=True,
        decoder_causal=False,
    )
    vae.use_framewise_encoding = False  # type: ignore[attr-defined]  # set in __init__, not declared
    vae.use_framewise_decoding = False  # type: ignore[attr-defined]
    return vae


def _tiny_sound() -> tuple[Any, Any]:
    """An audio VAE and a vocoder whose upsampling equals the mel hop."""
    from diffusers import AutoencoderKLLTX2Audio
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    hop = 160
    audio_vae = AutoencoderKLLTX2Audio(
        base_channels=4,
        output_channels=2,
        ch_mult=(1,),
        num_res_blocks=1,
        attn_resolutions=None,
        in_channels=2,
        resolution=32,
        latent_channels=2,
        norm_type="pixel",
        causality_axis="height",
        dropout=0.0,
        mid_block_add_attention=False,
        sample_rate=TINY_SAMPLE_RATE,
        mel_hop_length=hop,
        is_causal=True,
        mel_bins=8,
    )
    vocoder = LTX2Vocoder(
        in_channels=2 * 8,  # audio VAE output channels × mel bins
        hidden_channels=32,
        out_channels=2,  # stereo
        upsample_kernel_sizes=[8, 10, 16],
        upsample_factors=[4, 5, 8],  # 160 = the mel hop: one mel frame becomes `hop` samples
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]],
        leaky_relu_negative_slope=0.1,
        output_sampling_rate=TINY_SAMPLE_RATE,
    )
    return audio_vae, vocoder

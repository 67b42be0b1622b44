"""ModelScope text-to-video 1.7B and zeroscope: `TextToVideoSDPipeline` (a 3-D UNet over SD latents)."""

from __future__ import annotations

from bot.pipelines.spec import Family, FrameRule, Preset, StepHook

FAMILY = Family(
    name="modelscope",
    title="ModelScope text-to-video",
    pipeline_classes=("TextToVideoSDPipeline",),
    frames=FrameRule(),  # any count: the UNet has no temporal compression
    size_multiple=8,  # the VAE downsamples 8×
    max_prompt_tokens=77,  # CLIP
    step_hook=StepHook.LEGACY,  # deprecated pipeline: no callback_on_step_end, no interrupt
    download_include=("*.json", "*.txt", "*.fp16.safetensors"),
)

MODELSCOPE = Preset(
    id="damo-vilab/text-to-video-ms-1.7b",
    aliases=("ali-vilab/text-to-video-ms-1.7b",),
    family=FAMILY,
    licence="CC-BY-NC-4.0",
    licence_url="https://huggingface.co/ali-vilab/text-to-video-ms-1.7b",
    width=256,
    height=256,
    fps=8,
    frames=16,
    max_frames=32,
    steps=25,
    guidance=9.0,
    dtypes=(("default", "float16"),),
    variant="fp16",  # the repo ships fp32 and fp16, each as .bin and .safetensors
)

ZEROSCOPE = Preset(
    id="cerspense/zeroscope_v2_576w",
    family=FAMILY,
    licence="CC-BY-NC-4.0",
    licence_url="https://huggingface.co/cerspense/zeroscope_v2_576w",
    width=576,
    height=320,
    fps=8,
    frames=24,
    max_frames=40,
    steps=40,
    guidance=9.0,
    dtypes=(("default", "float16"),),
    variant=None,  # one set of weights only (.bin), beside the original-format zs2_576w/ folder
    download_include=("model_index.json", "scheduler/*", "text_encoder/*", "tokenizer/*", "unet/*", "vae/*"),
)

PRESETS = (MODELSCOPE, ZEROSCOPE)

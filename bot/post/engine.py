"""The post models of one process: chosen by `[post]`, loaded on first use and kept.

A worker (the in-process backend or `videobot worker`) owns one `PostEngine`; each call works on a
whole clip's uint8 frames and says which method and model did the work.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bot.post.hd import LTX_UPSAMPLER, Progress, Upscaled, load_upscaler, upscale_frames, upscale_latent
from bot.post.smooth import Smoothed, smooth_frames
from bot.post.weights import (
    LTX_SUBFOLDER,
    PostWeightsMissing,
    ltx_upsampler_folder,
    rife_file,
    upscaler_file,
)
from bot.settings.sections import PostConfig

LTX_FAMILIES = ("ltx",)  # LTX-Video 0.9.x: the family whose latent space the upsampler knows


class PostEngine:
    """🎞 Smooth and 🔍 HD for whole clips, with the models `[post]` names."""

    def __init__(self, post: PostConfig, *, memory: str = "fast", device: str = "auto") -> None:
        self.post, self.memory, self._device = post, memory, device
        self._loaded: dict[str, Any] = {}  # weights path (or folder) → model

    @property
    def device(self) -> str:
        """ "auto": the GPU when there is one (asked only when a model loads: torch is heavy)."""
        if self._device == "auto":
            import torch

            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return self._device

    def _model(self, key: str, load: Callable[[], Any]) -> Any:
        if key not in self._loaded:
            self._loaded[key] = load()
        return self._loaded[key]

    def smooth_method(self) -> str:
        """ "rife" or "minterpolate": what `smooth` will use now."""
        if self.post.smooth_method == "minterpolate":
            return "minterpolate"
        if self.post.smooth_method == "rife":
            rife_file(self.post).need()
            return "rife"
        return "rife" if rife_file(self.post).find() else "minterpolate"

    def smooth(
        self, frames: np.ndarray, fps: float, *, loop: bool = False, progress: Progress | None = None
    ) -> Smoothed:
        net = None
        source = rife_file(self.post)
        if self.smooth_method() == "rife":
            path = source.need()
            net = self._model(str(path), lambda: _ifnet_on(path, self.device))
        return smooth_frames(
            frames, fps, self.post.smooth_fps, loop=loop, rife=net, rife_name=source.name, progress=progress
        )

    def hd_method(self, family: str, *, vae: Any = None) -> str:
        """ "ltx" (LTX models, when the upsampler is on disk and the VAE at hand) or "spandrel"."""
        method = self.post.hd_method
        if method == "spandrel" or (method == "auto" and (family not in LTX_FAMILIES or vae is None)):
            return "spandrel"
        if ltx_upsampler_folder(self.post):
            return "ltx"
        if method == "ltx":
            raise PostWeightsMissing(
                f"the LTX latent upsampler ({self.post.ltx_upsampler}) is not on this machine; "
                "run `videobot pull post` to fetch it"
            )
        return "spandrel"

    def hd(
        self, frames: np.ndarray, *, family: str = "", vae: Any = None, progress: Progress | None = None
    ) -> Upscaled:
        if self.hd_method(family, vae=vae) == "ltx":
            folder = ltx_upsampler_folder(self.post)
            upsampler = self._model(folder, lambda: _ltx_upsampler(folder, self.device, vae))
            return upscale_latent(vae, upsampler, frames, name=self.post.ltx_upsampler)
        source = upscaler_file(self.post)
        path = source.need()
        model = self._model(str(path), lambda: load_upscaler(path, self.device))
        return upscale_frames(model, frames, memory=self.memory, name=source.name, progress=progress)


def _ifnet_on(path: Path, device: str) -> Any:
    from bot.post.ifnet import load_ifnet

    return load_ifnet(path).to(device)


def _ltx_upsampler(folder: str, device: str, vae: Any) -> Any:
    from diffusers.pipelines.ltx.modeling_latent_upsampler import LTXLatentUpsamplerModel

    sub = Path(folder) / LTX_SUBFOLDER
    where = str(sub) if sub.is_dir() else folder
    model = LTXLatentUpsamplerModel.from_pretrained(where, local_files_only=True)
    return model.to(device=device, dtype=vae.dtype)


__all__ = ["LTX_UPSAMPLER", "PostEngine"]

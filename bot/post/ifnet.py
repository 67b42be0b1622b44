"""RIFE's IFNet (Practical-RIFE v4.2x), written here so that its weights load without its code.

Architecture after Huang et al., "Real-Time Intermediate Flow Estimation for Video Frame
Interpolation" (ECCV 2022) and hzwer/Practical-RIFE (MIT licence, © 2021 hzwer); module names
match the released `flownet.pkl` keys (`block0.conv0.0.0.weight` …), so a Practical-RIFE 4.25
release loads as it is.  Widths, the number of blocks and the feature head's channels are read
from the weights, so the 4.2x releases of this shape (and tiny random ones in tests) share one
class.  A pickle is read with torch's weights-only unpickler, never a full one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

IMAGE_CHANNELS = 3
FLOW_CHANNELS = 4  # two 2-D flows: to frame 0 and to frame 1
BLOCK_FEATURES = 8  # the hidden features each block hands the next
BLOCK_OUT = FLOW_CHANNELS + 1 + BLOCK_FEATURES  # flow, blend mask, features
RES_CONVS = 8
V425_WIDTHS = (192, 128, 96, 64, 32)


class WeightsError(Exception):
    """The file is not IFNet weights of a shape this class knows; one line for the owner."""


def _conv(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=True), nn.LeakyReLU(0.2, True)
    )


class Head(nn.Module):
    """Per-frame features the flow blocks see beside the pixels (full resolution)."""

    def __init__(self, hidden: int = 16, out: int = 4) -> None:
        super().__init__()
        self.cnn0 = nn.Conv2d(IMAGE_CHANNELS, hidden, 3, 2, 1)
        self.cnn1 = nn.Conv2d(hidden, hidden, 3, 1, 1)
        self.cnn2 = nn.Conv2d(hidden, hidden, 3, 1, 1)
        self.cnn3 = nn.ConvTranspose2d(hidden, out, 4, 2, 1)
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.cnn0(x))
        x = self.relu(self.cnn1(x))
        x = self.relu(self.cnn2(x))
        return self.cnn3(x)


class ResConv(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)
        self.beta = nn.Parameter(torch.ones((1, channels, 1, 1)))
        self.relu = nn.LeakyReLU(0.2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) * self.beta + x)


class IFBlock(nn.Module):
    """One coarse-to-fine step: at 1/scale of the frame, predict a flow update, mask and features."""

    def __init__(self, in_channels: int, width: int) -> None:
        super().__init__()
        self.conv0 = nn.Sequential(_conv(in_channels, width // 2, 2), _conv(width // 2, width, 2))
        self.convblock = nn.Sequential(*(ResConv(width) for _ in range(RES_CONVS)))
        self.lastconv = nn.Sequential(nn.ConvTranspose2d(width, 4 * BLOCK_OUT, 4, 2, 1), nn.PixelShuffle(2))

    def forward(
        self, x: torch.Tensor, flow: torch.Tensor | None, scale: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.interpolate(x, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
        if flow is not None:
            small = F.interpolate(flow, scale_factor=1.0 / scale, mode="bilinear", align_corners=False)
            x = torch.cat((x, small / scale), 1)
        out = self.lastconv(self.convblock(self.conv0(x)))
        out = F.interpolate(out, scale_factor=scale, mode="bilinear", align_corners=False)
        return out[:, :FLOW_CHANNELS] * scale, out[:, FLOW_CHANNELS : FLOW_CHANNELS + 1], out[:, 5:]


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Backward warp: each output pixel reads `image` at its position plus `flow` (pixels)."""
    n, _, h, w = flow.shape
    xs = torch.linspace(-1.0, 1.0, w, device=flow.device, dtype=flow.dtype).view(1, 1, w).expand(n, h, w)
    ys = torch.linspace(-1.0, 1.0, h, device=flow.device, dtype=flow.dtype).view(1, h, 1).expand(n, h, w)
    gx = xs + flow[:, 0] / ((w - 1.0) / 2.0)
    gy = ys + flow[:, 1] / ((h - 1.0) / 2.0)
    grid = torch.stack((gx, gy), dim=3)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)


class IFNet(nn.Module):
    """Frames in [0, 1], (N, 3, H, W), H and W multiples of `multiple`; returns the frame at `t`."""

    def __init__(self, widths: Sequence[int] = V425_WIDTHS, head_hidden: int = 16, head_out: int = 4):
        super().__init__()
        first = 2 * IMAGE_CHANNELS + 1 + 2 * head_out  # both frames, t, both frames' features
        later = 2 * IMAGE_CHANNELS + 2 * head_out + 1 + 1 + BLOCK_FEATURES + FLOW_CHANNELS
        for index, width in enumerate(widths):
            self.add_module(f"block{index}", IFBlock(first if index == 0 else later, width))
        self.encode = Head(head_hidden, head_out)
        self.scales = [float(2 ** (len(widths) - 1 - i)) for i in range(len(widths))]

    @property
    def multiple(self) -> int:
        """Frame sides must divide by this (the coarsest block's stride)."""
        return int(self.scales[0]) * 4

    def blocks(self) -> list[IFBlock]:
        return [getattr(self, f"block{i}") for i in range(len(self.scales))]

    def forward(self, img0: torch.Tensor, img1: torch.Tensor, t: float) -> torch.Tensor:
        f0, f1 = self.encode(img0), self.encode(img1)
        step = img0.new_full((img0.shape[0], 1, *img0.shape[2:]), t)
        warped0, warped1 = img0, img1
        flow: torch.Tensor | None = None
        mask = feat = step  # replaced by the first block
        for block, scale in zip(self.blocks(), self.scales, strict=True):
            if flow is None:
                flow, mask, feat = block(torch.cat((img0, img1, f0, f1, step), 1), None, scale)
            else:
                wf0, wf1 = warp(f0, flow[:, :2]), warp(f1, flow[:, 2:4])
                x = torch.cat((warped0, warped1, wf0, wf1, step, mask, feat), 1)
                update, mask, feat = block(x, flow, scale)
                flow = flow + update
            warped0, warped1 = warp(img0, flow[:, :2]), warp(img1, flow[:, 2:4])
        weight = torch.sigmoid(mask)
        return warped0 * weight + warped1 * (1 - weight)


def ifnet_for(state: Mapping[str, torch.Tensor]) -> IFNet:
    """An IFNet shaped like `state` (Practical-RIFE keys, a `module.` prefix allowed), loaded."""
    state = {key.removeprefix("module."): value for key, value in state.items()}
    count = 0
    while f"block{count}.conv0.1.0.weight" in state:
        count += 1
    head = state.get("encode.cnn0.weight"), state.get("encode.cnn3.weight")
    if count == 0 or head[0] is None or head[1] is None:
        raise WeightsError("these are not RIFE v4.2x IFNet weights (no block0 or encode layers)")
    widths = [int(state[f"block{i}.conv0.1.0.weight"].shape[0]) for i in range(count)]
    net = IFNet(widths, head_hidden=int(head[0].shape[0]), head_out=int(head[1].shape[1]))
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[0]
        raise WeightsError(f"these RIFE weights do not fit the v4.2x IFNet: {first}") from None
    return net.eval()


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """Tensors from safetensors, or from a torch pickle through the weights-only unpickler."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return dict(load_file(str(path), device="cpu"))
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a hostile or broken pickle: refused, never executed
        raise WeightsError(f"{path.name} is not a plain tensor file ({type(error).__name__})") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise WeightsError(f"{path.name} does not hold a state dict of tensors")
    return loaded


def load_ifnet(path: Path) -> IFNet:
    """The IFNet stored at `path` (`.safetensors`, or Practical-RIFE's `flownet.pkl`)."""
    return ifnet_for(read_state(path))

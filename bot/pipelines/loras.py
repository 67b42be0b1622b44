"""LoRAs from `[models.NAME] loras`: found on disk, loaded into the pipeline, fused, named.

A LoRA is a folder, a `.safetensors` file, or a hub id (with `weight_name` when the repo holds
several files) found in the local Hugging Face cache; nothing is ever downloaded at run time,
and a missing one gets the exact `hf download` line.  Loading is diffusers'
`load_lora_weights` (its converters read the LightX2V and CausVid formats); Wan 2.2 A14B's
second expert (`transformer_2`) gets the same LoRA with `load_into_transformer_2`.

The LoRAs are **fused** into the weights and their adapter layers dropped: a configured model's
LoRAs and scales never change while it is loaded, and fused weights cost nothing per step
(no extra low-rank matmuls, one graph for `torch.compile`, FP8 storage casts one weight).
Changing a scale means editing config.toml and reloading the model.

Each LoRA is recorded as a `LoraRef` (name, SHA-256 of the file, scale): `/models`, `/info`
and the C2PA record show it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.pipelines.spec import LoraRef

log = logging.getLogger(__name__)

LORA_SUFFIXES = (".safetensors",)  # pickled .bin files are code; never loaded
DEFAULT_WEIGHT_NAME = "pytorch_lora_weights.safetensors"  # what diffusers' save_lora_weights writes
MAX_LORAS = 8


class LoraMissing(Exception):
    """A configured LoRA is not on this machine (or is ambiguous); the message says how to fix it."""


# Which of Wan 2.2 A14B's experts a LoRA goes into: `transformer` denoises the high-noise steps,
# `transformer_2` the low-noise ones (the step-distilling LoRAs come as one file for each).
EXPERTS = ("both", "high", "low")


@dataclass(frozen=True)
class LoraSpec:
    """One `{ path = "…", scale = 1.0, weight_name = "…", expert = "both" }` of `[models.NAME] loras`."""

    path: str
    scale: float = 1.0
    weight_name: str = ""  # the file inside a folder or hub repo; "" = its only .safetensors
    expert: str = "both"  # a two-expert model's high-noise, low-noise or both experts; one-expert: both

    @property
    def name(self) -> str:
        """What messages and records call it: the file's stem, or the repo or folder's name."""
        if self.weight_name and Path(self.weight_name).name != DEFAULT_WEIGHT_NAME:
            return Path(self.weight_name).stem
        where = Path(self.path.rstrip("/"))
        if where.name == DEFAULT_WEIGHT_NAME:  # diffusers' generic file name: its folder says more
            where = where.parent
        return where.stem or self.path


def weight_name_problem(weight_name: str) -> str | None:
    """Why `weight_name` cannot be used: it must name a `.safetensors` file in the LoRA's own
    folder or repo — no folders, no `..` (a pickled `.bin` is code, and `../` leaves the folder)."""
    if not weight_name:
        return None
    if Path(weight_name).suffix not in LORA_SUFFIXES:
        return f"weight_name {weight_name!r} must name a .safetensors file"
    if "/" in weight_name or "\\" in weight_name or weight_name.startswith(".") or "\0" in weight_name:
        return f"weight_name {weight_name!r} must be a file name alone, without folders"
    return None


def _looks_like_hub_id(path: str) -> bool:
    return path.count("/") == 1 and not path.startswith((".", "/", "~")) and not Path(path).exists()


def download_command(spec: LoraSpec) -> str:
    """The `hf download` line that fetches exactly this LoRA file."""
    return f"hf download {spec.path}" + (f" {spec.weight_name}" if spec.weight_name else "")


def _only_weights(folder: Path, spec: LoraSpec) -> Path:
    if problem := weight_name_problem(spec.weight_name):
        raise LoraMissing(f"LoRA {spec.path!r}: {problem}")
    if spec.weight_name:
        file = folder / spec.weight_name
        if not file.is_file():
            raise LoraMissing(f"LoRA {spec.path!r}: {spec.weight_name!r} is not in {folder}")
        return file
    if (folder / DEFAULT_WEIGHT_NAME).is_file():
        return folder / DEFAULT_WEIGHT_NAME
    files = sorted(p for p in folder.iterdir() if p.suffix in LORA_SUFFIXES and p.is_file())
    if len(files) != 1:
        found = ", ".join(p.name for p in files) or "no .safetensors file"
        raise LoraMissing(f'LoRA {spec.path!r} holds {found}; name one with weight_name = "…"')
    return files[0]


def lora_file(spec: LoraSpec) -> Path:
    """The `.safetensors` file `spec` names, on this machine; `LoraMissing` says how to get it."""
    if not _looks_like_hub_id(spec.path):
        where = Path(spec.path).expanduser()
        if where.is_dir():
            return _only_weights(where, spec)
        if where.is_file():
            if where.suffix not in LORA_SUFFIXES:
                raise LoraMissing(f"LoRA {spec.path!r} is not a .safetensors file")
            return where
        raise LoraMissing(f"LoRA {spec.path!r}: no such file or folder")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        folder = Path(snapshot_download(spec.path, local_files_only=True))
    except (LocalEntryNotFoundError, FileNotFoundError):
        raise LoraMissing(
            f"LoRA {spec.path!r} is not in the Hugging Face cache; download it once with "
            f"`{download_command(spec)}` on a machine with internet access, or point path at the file"
        ) from None
    try:
        return _only_weights(folder, spec)
    except LoraMissing:
        if spec.weight_name:
            raise LoraMissing(
                f"LoRA {spec.path!r}: {spec.weight_name!r} is not in the Hugging Face cache; "
                f"download it once with `{download_command(spec)}`"
            ) from None
        raise


_HASHES: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """The file's SHA-256, computed once per (path, size, mtime): LoRAs run to gigabytes."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            for block in iter(lambda: file.read(1 << 20), b""):
                digest.update(block)
        _HASHES[key] = digest.hexdigest()
    return _HASHES[key]


def lora_refs(specs: Sequence[LoraSpec]) -> tuple[LoraRef, ...]:
    """What the clips of a model with these LoRAs record; `LoraMissing` if one is not on disk."""
    return tuple(LoraRef(spec.name, file_sha256(lora_file(spec)), spec.scale) for spec in specs)


def recorded_loras(specs: Sequence[LoraSpec]) -> tuple[LoraRef, ...]:
    """What a model's identity names: each LoRA with its file's hash ("" while it is not on disk,
    in which case the model does not load and makes no clip)."""
    refs = []
    for spec in specs:
        try:
            digest = file_sha256(lora_file(spec))
        except (LoraMissing, OSError):
            digest = ""
        refs.append(LoraRef(spec.name, digest, spec.scale))
    return tuple(refs)


def load_loras(pipe: Any, specs: Sequence[LoraSpec]) -> tuple[LoraRef, ...]:
    """Load `specs` into `pipe` (a two-transformer Wan: into the experts each names), fuse them at
    their scales, drop the adapter layers; returns what the clips record."""
    if not specs:
        return ()
    refs = lora_refs(specs)
    two_experts = getattr(pipe, "transformer_2", None) is not None
    names: list[str] = []
    scales: list[float] = []
    for index, spec in enumerate(specs):
        if spec.expert != "both" and not two_experts:
            raise LoraMissing(f'LoRA {spec.name!r}: expert = "{spec.expert}" needs a model with two experts')
        file = lora_file(spec)
        into_second = (False, True) if two_experts and spec.expert == "both" else (spec.expert == "low",)
        for second in into_second:  # Wan 2.2 A14B: transformer (high noise), transformer_2 (low noise)
            adapter = f"lora{index}" + ("_2" if second else "")
            extra = {"load_into_transformer_2": True} if second else {}
            pipe.load_lora_weights(str(file.parent), weight_name=file.name, adapter_name=adapter, **extra)
            names.append(adapter)
            scales.append(spec.scale)
    pipe.set_adapters(names, adapter_weights=scales)
    components = [c for c in ("transformer", "transformer_2", "unet") if getattr(pipe, c, None) is not None]
    pipe.fuse_lora(components=components, adapter_names=names)
    pipe.unload_lora_weights()
    log.info("LoRAs fused: %s", ", ".join(ref.describe() for ref in refs))
    return refs

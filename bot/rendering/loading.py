"""Weights on disk → a diffusers pipeline, without touching the network.

The weights are found on disk first (a folder, or the Hugging Face cache), then
`from_pretrained(..., local_files_only=True)` loads the class named in model_index.json, each
component in its own dtype, with the fp16 weight variant where the checkpoint has one.  Each way
it can fail has its own exception.  Placing the loaded pipeline on its device (and the fallbacks
when it does not fit) is the renderer's: `Renderer._load`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bot.pipelines.registry import (
    CATALOGUE,
    TINY_PRESETS,
    family_of_class,
    preset_for_unknown,
    supported_classes,
)
from bot.pipelines.spec import Preset
from bot.pipelines.tiny import TINY_MODEL_ID
from bot.rendering.errors import ModelLoadFailed, ModelMissing, UnsupportedModel, _first_line
from bot.settings.sections import DEFAULT_MODEL_ID

log = logging.getLogger(__name__)


def _looks_like_hub_id(source: str) -> bool:
    """`owner/name` (one slash, no leading dot or slash) is how the hub names models."""
    return source.count("/") == 1 and not source.startswith((".", "/", "~"))


def local_folder(source: str, preset: Preset | None = None) -> Path:
    """The folder holding `source` on this machine (a folder, or the cache's snapshot); no download.

    Only the preset's include patterns must be there: huggingface_hub calls a cached snapshot
    incomplete when files of the repository it listed are missing, and `videobot pull` (or
    `hf download --include`) fetches only what loading reads.
    """
    if not _looks_like_hub_id(source):
        folder = Path(source).expanduser()
        if not folder.is_dir():
            raise ModelMissing(missing_weights_message(source, "no such folder"))
        if not (folder / "model_index.json").is_file():
            raise ModelMissing(missing_weights_message(source, "no model_index.json there"))
        return folder
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        preset = preset or CATALOGUE.find(source)
        patterns = list(preset.download_patterns) if preset else None
        folder = Path(snapshot_download(source, local_files_only=True, allow_patterns=patterns or None))
    except (LocalEntryNotFoundError, FileNotFoundError) as error:
        raise ModelMissing(missing_weights_message(source, "not in the Hugging Face cache")) from error
    except Exception as error:
        raise ModelLoadFailed(
            f"Could not look for {source!r} in the Hugging Face cache ({_first_line(error)}); "
            "check HF_HOME and that its folder is readable."
        ) from error
    if not (folder / "model_index.json").is_file():
        raise ModelMissing(missing_weights_message(source, "its model_index.json is not in the cache"))
    return folder


def check_weights_on_disk(source: str) -> None:
    """Raise `ModelUnavailable` unless the weights are already on this machine (no download)."""
    if source in TINY_PRESETS:
        return
    local_folder(source)


def download_command(source: str, preset: Preset | None = None) -> str:
    """The `hf download` line that fetches only what loading needs (the fp16 files, not all)."""
    preset = preset or CATALOGUE.find(source)
    include = preset.download_patterns if preset else ()
    patterns = " ".join(f'"{pattern}"' for pattern in include)
    return f"hf download {source}" + (f" --include {patterns}" if patterns else "")


def missing_weights_message(source: str, reason: str) -> str:
    """One paragraph for the owner: what failed and the exact fix."""
    fallback = '[model] id = "tiny" runs a tiny random model for trying the bot.'
    if not _looks_like_hub_id(source):
        return (
            f"The video model folder {source!r} could not be loaded ({reason}). "
            "Set [model] path (or [models.NAME] path) in config.toml to a folder that holds a diffusers "
            "pipeline (model_index.json and its sub-folders), for example one made with "
            f"`{download_command(DEFAULT_MODEL_ID)} --local-dir <folder>`; {fallback}"
        )
    return (
        f"The video model {source!r} could not be loaded ({reason}). "
        "Download it once with `videobot pull` on a machine with internet access "
        f"(or `{download_command(source)}`; the default model's fp16 files are about 3.7 GB), "
        f"or set [model] path in config.toml to a folder that holds it; {fallback}"
    )


def pipeline_class_name(folder: Path) -> str:
    """`_class_name` from model_index.json: which pipeline the checkpoint is."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        return str(index["_class_name"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ModelLoadFailed(
            f"{folder / 'model_index.json'} is not a diffusers model index ({error})"
        ) from None


def choose_variant(folder: Path, preferred: str | None) -> str | None:
    """`preferred` if the checkpoint ships weights of that variant (`*.fp16.safetensors`), else None."""
    if not preferred:
        return None
    for suffix in (".safetensors", ".bin"):
        if next(folder.glob(f"*/*.{preferred}{suffix}"), None) is not None:
            return preferred
        if next(folder.glob(f"*/*.{preferred}-*-of-*{suffix}"), None) is not None:  # sharded
            return preferred
    return None


def component_dtypes(preset: Preset, device: str) -> dict[str, Any]:
    """Per-component torch dtypes: the preset's on CUDA; float32 on the CPU (no fast half kernels)."""
    import torch

    if not device.startswith("cuda"):
        return {"default": torch.float32}
    return {component: getattr(torch, name) for component, name in preset.dtypes}


def load_pipeline(
    folder: Path, preset: Preset, *, dtypes: Mapping[str, Any], expect_family: bool = True
) -> tuple[Any, Preset]:
    """Load the checkpoint in `folder` offline; returns the pipeline and the preset it follows.

    With `expect_family` the class in model_index.json must be of `preset`'s family;
    otherwise (a folder nobody described) its class decides the family.
    """
    import diffusers

    class_name = pipeline_class_name(folder)
    family = family_of_class(class_name)
    if family is None:
        raise UnsupportedModel(
            f"{str(folder)!r} holds a {class_name}, which videobot does not render; it renders "
            f"{', '.join(supported_classes())}. Point the model's id or path at a text-to-video "
            "checkpoint of one of those."
        )
    if family is not preset.family:
        if expect_family:
            raise UnsupportedModel(
                f"{str(folder)!r} holds a {class_name} (the {family.name} family), but it is configured "
                f"as {preset.family.name}; fix its family (or id) in config.toml."
            )
        preset = preset_for_unknown(preset.id, family)
    pipeline_class = getattr(diffusers, class_name)
    variant = choose_variant(folder, preset.variant)
    kwargs: dict[str, Any] = {"dtype": dict(dtypes), "local_files_only": True}
    if variant:
        kwargs["variant"] = variant
    try:
        try:
            pipe = pipeline_class.from_pretrained(str(folder), **kwargs)
        except ValueError as error:
            if not variant or "variant" not in str(error):
                raise
            log.info("%s has no complete %s variant; loading its plain weights", folder, variant)
            kwargs.pop("variant")
            pipe = pipeline_class.from_pretrained(str(folder), **kwargs)
    except OSError as error:  # a component's weight file is not there
        raise ModelMissing(
            f"Some weights of {str(folder)!r} are missing ({_first_line(error)}). "
            f"Fetch them with `{download_command(preset.id, preset)}`."
        ) from error
    except Exception as error:
        raise ModelLoadFailed(f"Loading {str(folder)!r} failed: {_first_line(error)}") from error
    pipe.videobot_variant = variant  # what was chosen, for logs and tests
    return pipe, preset


def _preset_for_source(source: str) -> tuple[Preset, bool]:
    """A renderer made from a bare source: its preset, and whether it was only guessed."""
    if source in TINY_PRESETS:
        return TINY_PRESETS[source], False
    known = CATALOGUE.find(source)
    if known is not None:
        return known, False
    return CATALOGUE.find(DEFAULT_MODEL_ID) or TINY_PRESETS[TINY_MODEL_ID], True


def _silence_diffusers() -> None:
    """The ModelScope pipeline logs a deprecation notice on every construction."""
    from diffusers.utils import logging as diffusers_logging

    diffusers_logging.set_verbosity_error()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

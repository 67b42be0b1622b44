"""What a clip's C2PA manifest says: made by a trained model, which one, how, from what prompt."""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from bot import __version__
from bot.domain import Clip, Picture, RenderParams
from bot.pipelines.spec import ClipIdentity

TRAINED_ALGORITHMIC_MEDIA = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
GENERATION_LABEL = "org.videobot.generation"
SOFTWARE = "videobot"
MIME = "video/mp4"
POST_WORDS = {"smooth": "smoothed (frames interpolated)", "hd": "upscaled ×2"}


@dataclass(frozen=True)
class GenerationRecord:
    """Everything the signed manifest states about one clip (the custom assertion's data)."""

    model: ClipIdentity
    seed: int
    steps: int
    frames: int
    guidance: float
    width: int
    height: int
    fps: int
    prompt: str | None  # None when only the hash is kept
    prompt_sha256: str
    negative: str | None
    prompt_policy: str
    created: str  # ISO 8601, UTC
    software_version: str = __version__
    # made from a picture: its sha256, format, size_bytes and whether it carried credentials
    picture: dict[str, Any] | None = None
    # where the picture is, to sign it in as the clip's ingredient; never stated in the manifest
    picture_path: str | None = field(default=None, compare=False, repr=False)
    audio: str | None = None  # the soundtrack, when the clip has one (AI-generated like the picture)
    # an extension (docs/extend.md): the parent clip's job, its chain's first clip and its length
    parent: dict[str, Any] | None = None
    # the parent clip's file, signed in as the ingredient it was `parentOf`; never stated
    parent_path: str | None = field(default=None, compare=False, repr=False)
    # a post step (docs/post.md) made this clip from `parent`: step, method and model
    post: dict[str, Any] | None = None
    # rewritten by a prompt writer (docs/enhance.md): what the person typed, and the writer model
    prompt_original: str | None = None  # None when only the hash is kept
    prompt_original_sha256: str | None = None
    prompt_writer: str | None = None

    @classmethod
    def of(
        cls,
        params: RenderParams,
        model: ClipIdentity,
        *,
        hash_prompt: bool,
        protected_names: bool,
        now: datetime.datetime | None = None,
    ) -> GenerationRecord:
        created = (now or datetime.datetime.now(datetime.UTC)).isoformat(timespec="seconds")
        return cls(
            model=model,
            seed=params.seed,
            steps=params.steps,
            frames=params.frames,
            guidance=params.guidance,
            width=params.width,
            height=params.height,
            fps=params.fps,
            prompt=None if hash_prompt else params.prompt,
            prompt_sha256=hashlib.sha256(params.prompt.encode()).hexdigest(),
            negative=None if hash_prompt else params.negative,
            prompt_policy=f"protected names {'on' if protected_names else 'off'}",
            created=created,
            picture=_picture_facts(params.picture),
            picture_path=params.picture.path if params.picture else None,
            parent=_parent_facts(params),
            parent_path=params.extends.clip_path if params.extends else None,
            **_rewrite_facts(params, hash_prompt),
        )

    def of_clip(self, clip: Clip) -> GenerationRecord:
        """This record stating `clip`'s own frames, fps and size, read from the file made (an
        extension or a loop is not the length it asked for; a signed record that is wrong is worse
        than none)."""
        return replace(self, frames=clip.frames, fps=clip.fps, width=clip.width, height=clip.height)

    def as_data(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("picture_path")
        data.pop("parent_path")
        data = {key: value for key, value in data.items() if value is not None}
        data["model"] = self.model.as_data()
        return data

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> GenerationRecord:
        """The record read back from a signed clip (to sign its re-encodes the same way)."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}  # a newer bot's extras
        values["model"] = ClipIdentity.from_data(values["model"])
        values.setdefault("prompt", None)
        values.setdefault("negative", None)
        values.pop("picture_path", None)
        values.pop("parent_path", None)
        return cls(**values)


def _rewrite_facts(params: RenderParams, hash_prompt: bool) -> dict[str, Any]:
    if not params.rewritten:
        return {}
    original = params.prompt_original
    return {
        "prompt_original": None if hash_prompt else original,
        "prompt_original_sha256": hashlib.sha256(original.encode()).hexdigest(),
        "prompt_writer": params.prompt_writer,
    }


def _picture_facts(picture: Picture | None) -> dict[str, Any] | None:
    if picture is None:
        return None
    return {
        "sha256": picture.sha256,
        "format": picture.mime,
        "size_bytes": picture.size_bytes,
        "had_credentials": bool(picture.credentials),
    }


def _parent_facts(params: RenderParams) -> dict[str, Any] | None:
    extends = params.extends
    if extends is None:
        return None
    return {"job": extends.parent_id, "first_clip": extends.root_id, "frames": extends.frames}


def parent_ingredient(record: GenerationRecord) -> dict[str, Any]:
    """The clip an extension continues, as its C2PA `parentOf` ingredient: c2pa hashes it and
    keeps its manifest, so a chain of extensions verifies back to its first clip."""
    parent = record.parent or {}
    done = POST_WORDS.get(str((record.post or {}).get("step")), "extended")
    return {
        "title": f"clip-{parent.get('job', 0)}.mp4",
        "format": "video/mp4",
        "relationship": "parentOf",
        "description": f"videobot clip #{parent.get('job', 0)}, {done}",
        "metadata": {
            "videobot:job": parent.get("job", 0),
            "videobot:first_clip": parent.get("first_clip", 0),
        },
    }


def ingredient_definition(record: GenerationRecord) -> dict[str, Any]:
    """The picture a clip was made from, as its C2PA ingredient: an input to the generation.
    c2pa hashes it and keeps its own manifest (a camera's, or the bot's) as the ingredient's."""
    picture = record.picture or {}
    kind = str(picture.get("format", "image/jpeg"))
    return {
        "title": f"picture.{kind.partition('/')[2] or 'jpg'}",
        "format": kind,
        "relationship": "inputTo",
        "description": f"sha256:{picture.get('sha256', '')}",  # c2pa hashes it too (a hashed URI)
        "metadata": {
            "videobot:sha256": picture.get("sha256", ""),
            "videobot:size_bytes": picture.get("size_bytes", 0),
        },
    }


def manifest_definition(record: GenerationRecord, *, transcoded: str | None = None) -> dict[str, Any]:
    """The manifest JSON c2pa's `Builder` takes; `transcoded` notes a re-encode made to fit a limit."""
    agent = {"name": SOFTWARE, "version": record.software_version}
    created: dict[str, Any] = {
        "action": "c2pa.created",
        "when": record.created,
        "digitalSourceType": TRAINED_ALGORITHMIC_MEDIA,
        "softwareAgent": agent,
        "parameters": {
            "model": record.model.name,
            "model_hub_id": record.model.hub_id,
            "model_family": record.model.family,
            "model_licence": record.model.licence,
            "seed": record.seed,
            "prompt_policy": record.prompt_policy,
        },
    }
    if record.prompt_writer:  # the prompt the model saw was written by this language model
        created["parameters"]["prompt_writer"] = record.prompt_writer
    if record.model.loras:
        created["parameters"]["loras"] = [
            {"name": lora.name, "sha256": lora.sha256, "scale": lora.scale} for lora in record.model.loras
        ]
    if record.audio:  # the one c2pa.created action covers the whole file, the AAC track too
        created["parameters"]["content"] = ["video", "audio"]
        created["parameters"]["audio"] = record.audio
    actions: list[dict[str, Any]] = [created]
    if record.post:  # 🎞/🔍: the parent's pictures, interpolated or upscaled by the named model
        actions.append({"action": "c2pa.edited", "softwareAgent": agent, "parameters": dict(record.post)})
    if transcoded:
        why = {"why": transcoded}
        actions.append({"action": "c2pa.transcoded", "softwareAgent": agent, "parameters": why})
    return {
        "claim_generator_info": [agent],
        "title": f"AI-generated video{' and audio' if record.audio else ''} by {SOFTWARE}",
        "format": MIME,
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": actions}},
            {"label": GENERATION_LABEL, "data": record.as_data()},
        ],
    }

"""Where the post models' weights are: a configured local file, or the Hugging Face cache that
`videobot pull post` filled.  Looking never downloads (`local_files_only`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bot.settings.sections import PostConfig

PULL_HINT = "run `videobot pull post` to fetch it"
LTX_SUBFOLDER = "latent_upsampler"  # in the upsampler repository (diffusers' layout)


class PostWeightsMissing(Exception):
    """A method was asked for by name and its weights are not on disk; one line for the owner."""


@dataclass(frozen=True)
class HubFile:
    """One weights file: a local path, or a file of a hub repository."""

    what: str  # "RIFE", "the upscaler"
    repo: str
    file: str
    path: str = ""

    @property
    def name(self) -> str:
        return Path(self.path).name if self.path else f"{self.repo}/{self.file}"

    def find(self) -> Path | None:
        """The file on this machine, or None; never a download."""
        if self.path:
            local = Path(self.path).expanduser()
            return local if local.is_file() else None
        if not self.repo or not self.file:
            return None
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

        try:
            return Path(hf_hub_download(self.repo, self.file, local_files_only=True))
        except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError):
            return None

    def need(self) -> Path:
        found = self.find()
        if found is None:
            where = self.path or f"{self.file} of {self.repo}"
            fix = "set the path to an existing file" if self.path else PULL_HINT
            raise PostWeightsMissing(f"the {self.what} weights ({where}) are not on this machine; {fix}")
        return found


def rife_file(post: PostConfig) -> HubFile:
    return HubFile("RIFE", post.rife_repo, post.rife_file, post.rife_path)


def upscaler_file(post: PostConfig) -> HubFile:
    return HubFile("upscaler", post.upscaler_repo, post.upscaler_file, post.upscaler_path)


def ltx_upsampler_folder(post: PostConfig) -> str:
    """A folder as it is; a hub id resolved to its cached snapshot, or "" when not on disk."""
    source = post.ltx_upsampler
    if not source or Path(source).expanduser().is_dir():
        return str(Path(source).expanduser()) if source else ""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        return snapshot_download(source, allow_patterns=[f"{LTX_SUBFOLDER}/*"], local_files_only=True)
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError):
        return ""

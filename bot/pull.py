"""`videobot pull [NAME…]`: download exactly the files loading reads, once, with a size check first.

Loading itself never touches the network (`bot/render.py`); this is the one command that does, and
only when asked. It fetches each configured model's preset include patterns (ModelScope's fp16
safetensors, not the repository's every format), into the Hugging Face cache or, for a model with a
`path`, into that folder. huggingface_hub draws the progress bars, keeps finished files (a second
run fetches only what is missing) and resumes a dropped connection with a range request.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from bot.settings.enhance import EnhanceConfig
from bot.settings.models import ModelSettings
from bot.settings.root import Config

POST = "post"  # `videobot pull post`: the weights of 🎞 Smooth and 🔍 HD ([post])
DISK_MARGIN_BYTES = 512 * 1024 * 1024  # left free after a pull: the database and clips live on disks too
# A file the hub lists without a size is counted as this much (or as the plan's largest known
# file, if bigger) in the free-disk check: never as nothing.
UNKNOWN_SIZE_BYTES = 1024**3
WRITER_NAME = "enhance"  # `videobot pull enhance`: the [enhance] prompt writer alone
# What transformers reads for a causal LM: config, tokenizer, chat template, safetensors (not .bin, .gguf)
WRITER_PATTERNS = ("*.json", "*.jinja", "*.safetensors", "*.txt", "*.model", "*.tiktoken")


class PullError(Exception):
    """One line for the person at the shell: what went wrong and what to do."""


@dataclass(frozen=True)
class PullFile:
    name: str
    size: int | None  # None: the hub did not say
    cached: bool


@dataclass(frozen=True)
class PullPlan:
    """What `pull` fetches for one model."""

    model: str
    repo_id: str
    patterns: tuple[str, ...]
    local_dir: Path | None  # None: the Hugging Face cache
    files: tuple[PullFile, ...]

    @property
    def unknown_size(self) -> int:
        """What each file listed without a size is counted as: an honest guess, never 0."""
        return max([UNKNOWN_SIZE_BYTES, *(f.size for f in self.files if f.size is not None)])

    @property
    def missing(self) -> tuple[PullFile, ...]:
        return tuple(f for f in self.files if not f.cached)

    @property
    def unknown(self) -> int:
        """Files still to fetch whose size the hub did not list."""
        return sum(1 for f in self.missing if f.size is None)

    @property
    def to_fetch(self) -> int:
        """Bytes still to fetch, unknown sizes counted as `unknown_size` each."""
        return sum(self.unknown_size if f.size is None else f.size for f in self.missing)

    @property
    def total(self) -> int:
        return sum(f.size or 0 for f in self.files)

    @property
    def destination(self) -> Path:
        if self.local_dir is not None:
            return self.local_dir
        from huggingface_hub import constants

        return Path(constants.HF_HUB_CACHE)


def human_size(size: int) -> str:
    """Decimal units, as the model cards and `hf` print them: 3.67 GB."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1000
    return f"{value:.2f} TB"  # pragma: no cover


def _is_hub_id(text: str) -> bool:
    return text.count("/") == 1 and not text.startswith((".", "/", "~"))


def pull_targets(config: Config, names: Sequence[str]) -> list[ModelSettings]:
    """The models to pull: the named ones, or every configured model that has weights to fetch
    (`post` names the post steps' weights, not a model)."""
    asked = bool(names)
    names = [name for name in names if name != POST]
    if names:
        unknown = [name for name in names if name not in config.model_settings]
        if unknown:
            known = ", ".join(config.model_settings)
            raise PullError(
                f"there is no model called {unknown[0]!r} in {config.source}; pick one of {known}"
            )
        return [config.model_settings[name] for name in names]
    return list(config.model_settings.values()) if not asked else []


def plan_pull(settings: ModelSettings) -> PullPlan | None:
    """What loading `settings` reads from the hub; None when nothing is downloaded (tiny, a bare folder)."""
    if settings.preset.tiny or not _is_hub_id(settings.id):
        return None
    local_dir = Path(settings.path).expanduser() if settings.path else None
    return _plan(settings.name, settings.id, settings.preset.download_patterns, local_dir)


def plan_writer_pull(enhance: EnhanceConfig) -> PullPlan | None:
    """The prompt writer's files (docs/enhance.md); None when it is off, built in code or a folder."""
    if enhance.mode == "off" or enhance.path or not _is_hub_id(enhance.model):
        return None
    return _plan(WRITER_NAME, enhance.model, WRITER_PATTERNS, None)


def _plan(name: str, repo_id: str, patterns: Sequence[str], local_dir: Path | None) -> PullPlan:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import DryRunError, HfHubHTTPError, LocalEntryNotFoundError

    try:
        found = snapshot_download(
            repo_id, allow_patterns=list(patterns) or None, local_dir=local_dir, dry_run=True
        )
    except DryRunError:  # its words speak of a "dry run" even when nobody asked for one
        raise PullError(
            f"could not list {repo_id} ({name}) on the hub: it cannot be reached "
            "(check the internet connection, and HF_TOKEN for a gated model)"
        ) from None
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PullError(f"could not list {repo_id} ({name}) on the hub: {first}") from None
    files = tuple(
        sorted(
            (PullFile(f.filename, f.file_size, not f.will_download) for f in found),
            key=lambda f: f.name,
        )
    )
    return PullPlan(name, repo_id, tuple(patterns), local_dir, files)


def _post_plan(repo_id: str, patterns: tuple[str, ...]) -> PullPlan:
    plan = _plan(POST, repo_id, patterns, None)
    if not plan.files:
        raise PullError(f"{repo_id} has no {', '.join(patterns)}; check [post] in the config")
    return plan


def post_sources(config: Config) -> list[tuple[str, tuple[str, ...]]]:
    """The hub files `[post]` reads: (repo id, patterns); a configured local path needs none."""
    post = config.post
    sources: list[tuple[str, tuple[str, ...]]] = []
    if post.smooth_method != "minterpolate" and not post.rife_path and _is_hub_id(post.rife_repo):
        sources.append((post.rife_repo, (post.rife_file,)))
    if post.hd_method != "ltx" and not post.upscaler_path and _is_hub_id(post.upscaler_repo):
        sources.append((post.upscaler_repo, (post.upscaler_file,)))
    ltx_models = any(s.family == "ltx" for s in config.model_settings.values())
    wants_ltx = post.hd_method == "ltx" or (post.hd_method == "auto" and ltx_models)
    if wants_ltx and _is_hub_id(post.ltx_upsampler):
        sources.append((post.ltx_upsampler, ("latent_upsampler/*",)))
    return sources


def _writer_plans(config: Config, names: Sequence[str], out: TextIO) -> tuple[list[PullPlan], list[str]]:
    """The writer's plan when it is wanted (no names, or `enhance` among them), and the model names left."""
    asked = WRITER_NAME in names and WRITER_NAME not in config.model_settings
    model_names = [name for name in names if name != WRITER_NAME or not asked]
    if names and not asked:
        return [], model_names
    plan = plan_writer_pull(config.enhance)
    if plan is not None:
        return [plan], model_names
    enhance = config.enhance
    if asked or enhance.mode != "off":
        why = ("[enhance] mode is off" if enhance.mode == "off" else
               f"loaded from the folder {enhance.path}" if enhance.path else "built in code")  # fmt: skip
        print(f"{WRITER_NAME}: nothing to download ({why})", file=out)
    return [], model_names


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_free_space(plans: Sequence[PullPlan]) -> None:
    """Refuse before a byte is fetched when a disk would fill up."""
    needed: dict[int, tuple[Path, int, int]] = {}
    for plan in plans:
        where = _existing_parent(plan.destination)
        device = where.stat().st_dev
        folder, size, unknown = needed.get(device, (where, 0, 0))
        needed[device] = (folder, size + plan.to_fetch, unknown + plan.unknown)
    for folder, size, unknown in needed.values():
        free = shutil.disk_usage(folder).free
        if size and size + DISK_MARGIN_BYTES > free:
            guess = f", {unknown} of its files counted at a guess (the hub lists no size)" if unknown else ""
            raise PullError(
                f"the download needs {human_size(size)}"
                f" (and {human_size(DISK_MARGIN_BYTES)} to spare{guess}), "
                f"but {folder} has {human_size(free)} free; free some space or set HF_HOME "
                "(or [models.NAME] path) to a bigger disk"
            )


def describe(plan: PullPlan, out: TextIO) -> None:
    """The files of one plan, their sizes, and what is still to fetch."""
    print(f"{plan.model}: {plan.repo_id} → {plan.destination}", file=out)
    width = max((len(f.name) for f in plan.files), default=0)
    for f in plan.files:
        note = "  (already here)" if f.cached else ""
        size = "size unknown" if f.size is None else human_size(f.size)
        print(f"  {f.name:<{width}}  {size:>12}{note}", file=out)
    count = len(plan.files)
    unknown = f" ({plan.unknown} of unknown size, counted as {human_size(plan.unknown_size)} each)"
    print(
        f"  {count} {'file' if count == 1 else 'files'}, {human_size(plan.total)}; "
        f"{human_size(plan.to_fetch)} to fetch{unknown if plan.unknown else ''}",
        file=out,
    )


def pull(config: Config, names: Sequence[str], *, dry_run: bool, out: TextIO = sys.stdout) -> int:
    """`videobot pull`: plan every model, check the disk, then download (unless `dry_run`)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}:
        raise PullError("HF_HUB_OFFLINE is set, so nothing can be downloaded; unset it for this command")
    plans, model_names = _writer_plans(config, names, out)
    targets = pull_targets(config, model_names) if model_names or not names else []
    with_post = POST in names or (not names and (config.post.smooth or config.post.hd))
    post = [_post_plan(repo, patterns) for repo, patterns in post_sources(config)] if with_post else []
    for settings in targets:
        plan = plan_pull(settings)
        if plan is None:
            why = "built in code" if settings.preset.tiny else f"loaded from the folder {settings.path}"
            print(f"{settings.name}: nothing to download ({why})", file=out)
        else:
            plans.append(plan)
    if with_post and not post:
        print(f"{POST}: nothing to download (minterpolate and local files only)", file=out)
    plans += post
    for plan in plans:
        describe(plan, out)
    to_fetch = sum(plan.to_fetch for plan in plans)
    if len(plans) > 1:
        print(f"In all: {human_size(to_fetch)} to fetch", file=out)
    if dry_run or not any(plan.missing for plan in plans):
        if not dry_run:
            print("Everything is already here.", file=out)
        return 0
    check_free_space(plans)
    from huggingface_hub import snapshot_download

    for plan in plans:
        if not plan.missing:
            continue
        print(f"Downloading {plan.model} ({human_size(plan.to_fetch)})…", file=out, flush=True)
        try:
            snapshot_download(
                plan.repo_id, allow_patterns=list(plan.patterns) or None, local_dir=plan.local_dir
            )
        except Exception as error:  # the network, the hub, the disk: all one line, run again to resume
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise PullError(
                f"downloading {plan.repo_id} stopped: {first}; run `videobot pull {plan.model}` again "
                "to fetch what is missing"
            ) from None
    print("Done: loading finds the weights on disk now.", file=out)
    return 0

"""Content Credentials: every clip the bot makes is signed (C2PA) as AI-generated, and anyone can
check it: `videobot verify`, `/info`, or a clip sent back to the bot.  Real c2pa, real MP4s."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import c2pa
import numpy as np
import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from bot import __version__
from bot.cli import main as videobot
from bot.core.credentials import CredentialsState, Upload
from bot.domain import JobStatus, RenderParams
from bot.encode import encode_clip, encode_mp4, fit_to_size, read_clip
from bot.pipelines.clip import RenderedClip
from bot.pipelines.registry import CATALOGUE
from bot.pipelines.spec import ClipIdentity
from bot.provenance import (
    TRAINED_ALGORITHMIC_MEDIA,
    ContentCredentials,
    SigningIdentity,
    burn_watermark,
    check_clip,
    ensure_local_identity,
)
from bot.provenance.identity import CA_FILE, IDENTITY_DIR, KEY_FILE
from bot.settings.sections import VideoConfig
from tests.harness.config import MakeConfig
from tests.harness.console import ChildProcesses
from tests.harness.core import ALICE, MakeBot

REPO = Path(__file__).resolve().parent.parent
PARAMS = RenderParams("a cat surfing at dusk", "blurry", 42, 8, 3, 9.0, 64, 64, 8)
MODEL = ClipIdentity("tiny", "tiny", "modelscope", "none (random weights)")


def gradient(frames: int = 8, height: int = 64, width: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    clip = np.empty((frames, height, width, 3), dtype=np.uint8)
    for i in range(frames):
        clip[i, ..., 0] = (x * 4 + i * 8) % 256
        clip[i, ..., 1] = (y * 4) % 256
        clip[i, ..., 2] = 128
    return clip


@pytest.fixture
def identity(tmp_path: Path) -> SigningIdentity:
    return ensure_local_identity(tmp_path / "data")


def credentials(identity: SigningIdentity | None, **options: Any) -> ContentCredentials:
    return ContentCredentials(identity, **options)


def signed_clip(
    path: Path, identity: SigningIdentity, video: VideoConfig | None = None, **options: Any
) -> Path:
    encode_clip(
        RenderedClip(gradient(), PARAMS.fps),
        path,
        PARAMS,
        made_by=MODEL,
        video=video or VideoConfig(),
        credentials=credentials(identity, **options),
    )
    return path


def manifest_of(path: Path) -> tuple[str, list[str], dict[str, Any]]:
    """c2pa's own reading: validation state, failed codes, active manifest."""
    with c2pa.Reader(str(path)) as reader:
        results = reader.get_validation_results() or {}
        failures = [f["code"] for f in results.get("activeManifest", {}).get("failure", [])]
        return reader.get_validation_state() or "", failures, reader.get_active_manifest() or {}


def assertion(manifest: dict[str, Any], label: str) -> dict[str, Any]:
    return next(a["data"] for a in manifest["assertions"] if a["label"] == label)


def upload(data: bytes) -> Upload:
    async def fetch() -> bytes:
        return data

    return Upload(len(data), fetch)


def flip_a_byte_of_video_data(path: Path) -> None:
    data = bytearray(path.read_bytes())
    mdat = data.find(b"mdat")
    data[mdat + 100] ^= 0xFF
    path.write_bytes(bytes(data))


def verify(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    status = videobot(["verify", str(path)])
    out = capsys.readouterr()
    return status, out.out + out.err


# signing ---------------------------------------------------------------------------------


def test_a_signed_clip_says_it_was_made_by_a_trained_model_which_one_and_with_what_seed(
    tmp_path: Path, identity: SigningIdentity
) -> None:
    path = signed_clip(tmp_path / "1.mp4", identity)

    state, failures, manifest = manifest_of(path)
    assert state == "Valid"
    assert failures == ["signingCredential.untrusted"], "a private CA: valid but not on a trust list"
    (created, *_) = assertion(manifest, "c2pa.actions.v2")["actions"]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert created["softwareAgent"] == {"name": "videobot", "version": __version__}
    assert created["parameters"]["model"] == "tiny" and created["parameters"]["seed"] == 42
    generation = assertion(manifest, "org.videobot.generation")
    assert generation["model"] == MODEL.as_data()
    assert generation["model"]["family"] == "modelscope" and "loras" not in generation["model"], (
        "as before LoRAs"
    )
    assert (generation["seed"], generation["steps"], generation["frames"], generation["guidance"]) == (
        42,
        3,
        8,
        9.0,
    )
    assert generation["prompt"] == "a cat surfing at dusk" and generation["negative"] == "blurry"
    assert generation["prompt_policy"] == "protected names off"
    assert manifest["signature_info"]["common_name"] == "videobot"
    # and it is still an ordinary MP4 with its plain tags
    frames, fps, tags = read_clip(path)
    assert frames.shape == (8, 64, 64, 3) and fps == 8
    assert tags["videobot_seed"] == "42" and tags["comment"] == "AI-generated by videobot"


def test_only_the_prompts_hash_is_signed_when_configured_and_the_policy_is_recorded(
    tmp_path: Path, identity: SigningIdentity
) -> None:
    video = VideoConfig(hash_prompt_in_metadata=True)
    path = signed_clip(tmp_path / "1.mp4", identity, video, hash_prompt=True, protected_names=True)

    generation = assertion(manifest_of(path)[2], "org.videobot.generation")
    assert "prompt" not in generation and "negative" not in generation
    assert len(generation["prompt_sha256"]) == 64
    assert generation["prompt_policy"] == "protected names on"
    assert b"a cat surfing" not in path.read_bytes(), "neither the manifest nor the tags hold the prompt"


def test_the_bots_own_identity_is_made_once_with_a_key_only_its_user_can_read(tmp_path: Path) -> None:
    first = ensure_local_identity(tmp_path)
    again = ensure_local_identity(tmp_path)

    folder = tmp_path / IDENTITY_DIR
    assert (folder / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert again == first, "made at the first start only"
    leaf, ca = x509.load_pem_x509_certificates(first.chain_pem)
    assert ca == x509.load_pem_x509_certificate((folder / CA_FILE).read_bytes())
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest


def test_fitted_re_encodes_are_signed_too(tmp_path: Path, identity: SigningIdentity) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (8, 128, 128, 3), dtype=np.uint8)
    path = tmp_path / "1.mp4"
    encode_clip(
        RenderedClip(noise, PARAMS.fps),
        path,
        PARAMS,
        made_by=MODEL,
        video=VideoConfig(),
        credentials=credentials(identity),
    )
    limit = path.stat().st_size // 2

    fitted = fit_to_size(path, limit, credentials(identity))

    assert Path(fitted.path) != path and fitted.size_bytes <= limit
    assert Path(fitted.path).stat().st_size == fitted.size_bytes, "the manifest counts in the size"
    state, failures, manifest = manifest_of(Path(fitted.path))
    assert state == "Valid" and failures == ["signingCredential.untrusted"]
    actions = [a["action"] for a in assertion(manifest, "c2pa.actions.v2")["actions"]]
    assert actions == ["c2pa.created", "c2pa.transcoded"]
    assert assertion(manifest, "org.videobot.generation")["seed"] == 42


def test_a_clip_that_cannot_be_signed_is_still_written_and_counted(tmp_path: Path) -> None:
    unsigned = credentials(None)
    clip = encode_clip(
        RenderedClip(gradient(), PARAMS.fps),
        tmp_path / "1.mp4",
        PARAMS,
        made_by=MODEL,
        video=VideoConfig(),
        credentials=unsigned,
    )

    assert read_clip(Path(clip.path))[0].shape == (8, 64, 64, 3)
    assert check_clip(Path(clip.path)).state == CredentialsState.MISSING
    assert (unsigned.counts.signed, unsigned.counts.unsigned) == (0, 1)


# verifying -------------------------------------------------------------------------------


def test_videobot_verify_names_the_signer_the_model_and_says_intact(
    tmp_path: Path, identity: SigningIdentity, capsys: pytest.CaptureFixture[str]
) -> None:
    path = signed_clip(tmp_path / "1.mp4", identity)

    status, said = verify(path, capsys)

    assert status == 0
    assert f"{path}: valid" in said
    assert "Content Credentials: signed by videobot (self-issued) · valid" in said
    assert "not from a trusted issuer" in said
    assert "AI-generated (trained algorithmic media) with tiny" in said


def test_one_flipped_byte_of_video_data_is_reported_as_altered(
    tmp_path: Path, identity: SigningIdentity, capsys: pytest.CaptureFixture[str]
) -> None:
    path = signed_clip(tmp_path / "1.mp4", identity)
    flip_a_byte_of_video_data(path)

    status, said = verify(path, capsys)

    assert status == 1
    assert f"{path}: altered" in said
    assert "the file was altered after signing" in said
    assert "assertion.bmffHash.mismatch" in said


def test_videobot_verify_on_a_file_without_a_manifest_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = encode_mp4(gradient(), tmp_path / "plain.mp4", fps=8)
    (tmp_path / "notes.mp4").write_text("not a video")

    assert verify(Path(plain.path), capsys) == (
        1,
        f"{plain.path}: missing\nNo Content Credentials in this file: nothing signed says who made it or how.\n",
    )
    status, said = verify(tmp_path / "notes.mp4", capsys)
    assert status == 1 and "could not read that file as an MP4" in said
    status, said = verify(tmp_path / "absent.mp4", capsys)
    assert status == 1 and "no such file" in said


def test_demo_writes_a_signed_file_that_videobot_verify_accepts(
    tmp_path: Path, child_processes: ChildProcesses
) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env.pop("VIDEOBOT_CONFIG", None)
    (tmp_path / "config.toml").write_text(
        f'[storage]\ndir = "{tmp_path / "data"}"\n[video]\nwidth = 64\nheight = 64\n'
    )

    def videobot_child(*args: str) -> subprocess.CompletedProcess[str]:
        return child_processes.run(
            [sys.executable, "-m", "bot", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    demo = videobot_child("demo", "a cat", "--tiny", "--frames", "8", "--steps", "2", "--out", "x.mp4")
    assert demo.returncode == 0, demo.stderr
    assert "Signed with Content Credentials as 'videobot'" in demo.stderr
    checked = videobot_child("verify", "x.mp4")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "x.mp4: valid" in checked.stdout and "with tiny" in checked.stdout


# the bot ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_every_delivered_clip_is_signed_and_info_says_so(make_bot: MakeBot, renders: None) -> None:
    bot = await make_bot()
    job = await bot.video("a cat surfing --seed 5")
    await bot.until_status(job.id, JobStatus.DONE)
    sent = await bot.outbox.wait_for_video()
    assert sent.clip is not None and check_clip(Path(sent.clip.path)).valid

    await bot.service.info(bot.req(ALICE), str(job.id))

    assert bot.last_text.endswith(
        "🔏 Content Credentials: signed by videobot (self-issued) · valid · "
        "the bot's own certificate, not from a trusted issuer"
    )


@pytest.mark.asyncio
async def test_a_clip_sent_back_is_checked_the_same_way(
    make_bot: MakeBot, make_config: MakeConfig, renders: None
) -> None:
    bot = await make_bot(config=make_config(provenance={"max_verify_mb": 1, "verify_every_s": 0}))
    job = await bot.video("a cat surfing --seed 5")
    done = await bot.until_status(job.id, JobStatus.DONE)
    assert done.clip_path is not None
    clip = Path(done.clip_path).read_bytes()

    await bot.service.verify(bot.req(ALICE), upload(clip))
    assert (
        "· valid ·" in bot.last_text and "AI-generated (trained algorithmic media) with tiny" in bot.last_text
    )
    altered = bytearray(clip)
    altered[altered.find(b"mdat") + 100] ^= 0xFF
    await bot.service.verify(bot.req(ALICE), upload(bytes(altered)))
    assert "altered after signing" in bot.last_text
    await bot.service.verify(bot.req(ALICE), None)
    assert bot.last_text.startswith("Send /verify as a reply to a video")
    fetched: list[int] = []

    async def never() -> bytes:
        fetched.append(1)
        return b""

    await bot.service.verify(bot.req(ALICE), Upload(2_000_000, never))
    assert bot.last_text == "That file is too large to check; I check videos up to 1 MB."
    assert fetched == [], "not downloaded at all"


@pytest.mark.asyncio
@pytest.mark.parametrize("problem", ["missing", "unreadable"])
async def test_a_bad_key_is_one_clear_line_at_start_up_and_clips_still_go_out_unsigned(
    problem: str, make_bot: MakeBot, make_config: MakeConfig, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mine = ensure_local_identity(tmp_path / "elsewhere")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(mine.chain_pem)
    if problem == "unreadable":
        key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    config = make_config(provenance={"cert_chain": str(chain), "private_key": str(key)})

    with caplog.at_level(logging.ERROR):
        bot = await make_bot(config=config)
    job = await bot.video("a cat surfing")
    done = await bot.until_status(job.id, JobStatus.DONE)

    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "\n" not in errors[0]
    assert errors[0].startswith("Content Credentials are off, clips will be sent unsigned:")
    assert str(key) in errors[0]
    assert len(bot.outbox.videos) == 1
    assert done.clip_path is not None and check_clip(Path(done.clip_path)).state == CredentialsState.MISSING


@pytest.mark.asyncio
async def test_an_owner_can_bring_their_own_certificate(
    make_bot: MakeBot, make_config: MakeConfig, tmp_path: Path, renders: None
) -> None:
    theirs = ensure_local_identity(tmp_path / "issuer")
    chain, key = tmp_path / "chain.pem", tmp_path / "key.pem"
    chain.write_bytes(theirs.chain_pem)
    key.write_bytes(theirs.key_pem)
    bot = await make_bot(config=make_config(provenance={"cert_chain": str(chain), "private_key": str(key)}))

    job = await bot.video("a cat surfing")
    done = await bot.until_status(job.id, JobStatus.DONE)

    assert done.clip_path is not None
    with c2pa.Reader(done.clip_path) as reader:
        manifest = reader.get_active_manifest() or {}
    chain_in_clip = manifest["signature_info"]["cert_serial_number"]
    assert chain_in_clip == str(x509.load_pem_x509_certificate(theirs.chain_pem).serial_number)
    assert not (bot.config.data_dir / IDENTITY_DIR).exists(), "no certificate of its own was made"


# the visible mark ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(256, 256), (832, 480)])
def test_the_watermark_is_in_the_decoded_frames_where_configured(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    width, height = size
    grey = np.full((4, height, width, 3), 128, dtype=np.uint8)
    video = VideoConfig(watermark="AI", watermark_position="bottom-right")
    params = replace(PARAMS, frames=4, width=width, height=height)

    encode_clip(RenderedClip(grey, params.fps), tmp_path / "1.mp4", params, made_by=MODEL, video=video)
    frames = read_clip(tmp_path / "1.mp4")[0].astype(int)

    corner = frames[:, height * 3 // 4 :, width * 3 // 4 :]
    assert (corner.min(axis=-1) > 220).sum() / len(frames) > 60, "white letters in the corner"
    assert (corner.max(axis=-1) < 40).sum() / len(frames) > 30, "with a dark outline"
    rest = frames[:, : height // 2, :]
    assert np.abs(rest - 128).max() <= 3, "nothing anywhere else"


def test_no_watermark_when_off(tmp_path: Path) -> None:
    grey = np.full((4, 256, 256, 3), 128, dtype=np.uint8)

    assert burn_watermark(grey, "", "bottom-right") is grey
    encode_clip(RenderedClip(grey, PARAMS.fps), tmp_path / "1.mp4", replace(PARAMS, frames=4), made_by=MODEL,
                video=VideoConfig())  # fmt: skip
    frames = read_clip(tmp_path / "1.mp4")[0].astype(int)
    assert np.abs(frames - 128).max() <= 3


@pytest.mark.parametrize("position", ["top-left", "top-right", "bottom-left", "bottom-right"])
def test_the_watermark_goes_in_the_corner_asked_for(position: str) -> None:
    grey = np.full((1, 256, 256, 3), 128, dtype=np.uint8)
    marked = burn_watermark(grey, "AI", position)[0]
    changed = np.argwhere(np.any(marked != 128, axis=-1))
    (top, left), (bottom, right) = changed.min(axis=0), changed.max(axis=0)
    assert (bottom < 128) == position.startswith("top") and (top >= 128) == position.startswith("bottom")
    assert (right < 128) == position.endswith("left") and (left >= 128) == position.endswith("right")


def test_a_watermark_config_that_cannot_work_is_refused(make_config: MakeConfig) -> None:
    from bot.settings.bounds import ConfigError

    with pytest.raises(ConfigError, match=r"\[video\] watermark_position must be one of top-left"):
        make_config(video={"watermark": "AI", "watermark_position": "middle"})
    with pytest.raises(ConfigError, match=r"\[provenance\] cert_chain and private_key must be set together"):
        make_config(provenance={"cert_chain": "chain.pem"})


def test_check_clip_reads_bytes_as_well_as_files(tmp_path: Path, identity: SigningIdentity) -> None:
    path = signed_clip(tmp_path / "1.mp4", identity)
    from_bytes = check_clip(path.read_bytes())
    assert from_bytes == check_clip(path) and from_bytes.valid
    assert datetime.fromisoformat(from_bytes.signed_at).tzinfo is not None


def test_a_model_loaded_from_a_folder_is_named_by_its_hub_id_not_its_path(make_config: MakeConfig) -> None:
    config = make_config(model={"id": "damo-vilab/text-to-video-ms-1.7b", "path": "/home/owner/models/ms17"})

    made_by = config.model_settings[config.default_model].identity

    assert made_by == ClipIdentity(
        "damo-vilab/text-to-video-ms-1.7b",
        "damo-vilab/text-to-video-ms-1.7b",
        "modelscope",
        CATALOGUE.find("damo-vilab/text-to-video-ms-1.7b").licence,  # type: ignore[union-attr]
    )
    assert "NC" in made_by.licence, "ModelScope's non-commercial licence is stated"

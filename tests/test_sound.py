"""Sound: LTX-2's soundtrack reaches the MP4 as AAC, in sync, signed as AI-generated; `--silent`
and `[models.NAME] audio = false` turn it off; fitting a clip to a size keeps it."""

from __future__ import annotations

import sys
from pathlib import Path

import av
import numpy as np
import pytest

from bot.core.parsing import CommandError, parse_video_text
from bot.domain import JobStatus, RenderParams
from bot.encode import encode_clip, encode_mp4, fit_to_size, read_soundtrack
from bot.pipelines.audio import Soundtrack
from bot.pipelines.clip import RenderedClip
from bot.pipelines.spec import ClipIdentity
from bot.provenance import ContentCredentials, check_clip, ensure_local_identity, read_record
from bot.render import Renderer
from bot.settings.loading import parse_config
from bot.settings.sections import VideoConfig
from tests.fakes.telegram_api import FakeTelegram
from tests.harness.config import SMALL, MakeConfig, tiny_settings
from tests.harness.console import ChildProcesses
from tests.harness.core import COLD, MakeBot
from tests.harness.telegram import start_bot

REPO = Path(__file__).resolve().parent.parent
PARAMS = RenderParams("drums in the rain", "", 7, 9, 2, 1.0, SMALL, SMALL, 8)


def streams(path: Path) -> dict[str, tuple[str, float, int]]:
    """Each stream's codec, duration in seconds and decoded frame (or sample) count."""
    found: dict[str, tuple[str, float, int]] = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            assert stream.duration is not None and stream.time_base is not None
            seconds = float(stream.duration * stream.time_base)
            count = sum(getattr(frame, "samples", 1) for frame in container.decode(stream))
            container.seek(0)
            found[stream.type] = (stream.codec_context.name, seconds, count)
    return found


def tone(seconds: float, rate: int = 16_000, hz: float = 440.0) -> Soundtrack:
    t = np.arange(round(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return Soundtrack(np.stack([wave, wave]), rate)


def noise(frames: int = 16, side: int = 128) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (frames, side, side, 3), dtype=np.uint8)


def test_demo_with_tiny_ltx2_writes_a_signed_mp4_whose_video_and_aac_sound_decode_in_sync(
    tmp_path: Path, child_processes: ChildProcesses
) -> None:
    result = child_processes.run(
        [
            sys.executable,
            "-m",
            "bot",
            "demo",
            "a cat playing drums",
            "--model",
            "tiny-ltx2",
            "--out",
            "c.mp4",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    clip = tmp_path / "c.mp4"
    found = streams(clip)
    video_codec, video_seconds, frames = found["video"]
    audio_codec, audio_seconds, samples = found["audio"]
    assert (video_codec, frames, audio_codec) == ("h264", 9, "aac")
    assert abs(audio_seconds - video_seconds) < 0.01, "the sound ends with the picture"
    assert samples >= 16_000 * video_seconds, "the whole soundtrack decodes"
    sound = read_soundtrack(clip)
    assert sound is not None and sound.rate == 16_000 and float(np.abs(sound.samples).max()) > 0
    check = check_clip(clip)
    assert check.valid and check.ai_generated and check.sound
    record = read_record(clip)
    assert record is not None and record.audio is not None and "AI-generated" in record.audio


def test_the_tiny_ltx2_renderer_returns_frames_that_carry_a_clip_long_soundtrack(renders: None) -> None:
    rendered = Renderer("tiny-ltx2", tuning=COLD).render(PARAMS)
    sound, clip = rendered.soundtrack, rendered.frames
    assert clip.shape == (9, SMALL, SMALL, 3) and clip.dtype == np.uint8 and rendered.fps == PARAMS.fps
    assert sound is not None and sound.channels == 2
    assert abs(sound.seconds - 9 / 8) < 0.1, "the vocoder's samples last as long as the frames"


def test_a_model_configured_with_audio_false_renders_silent_clips(renders: None) -> None:
    assert Renderer("tiny-ltx2", audio=False, tuning=COLD).render(PARAMS).soundtrack is None


def test_silent_params_drop_the_soundtrack_and_the_manifest_does_not_claim_sound(tmp_path: Path) -> None:
    frames = RenderedClip(np.zeros((9, 64, 64, 3), np.uint8), 8, tone(9 / 8))
    credentials = ContentCredentials(ensure_local_identity(tmp_path / "data"))
    loud = encode_clip(
        frames,
        tmp_path / "loud.mp4",
        PARAMS,
        made_by=ClipIdentity("m", "m", "ltx2", "x"),
        video=VideoConfig(),
        credentials=credentials,
    )
    quiet_params = RenderParams(**{**PARAMS.__dict__, "silent": True})
    quiet = encode_clip(
        frames,
        tmp_path / "quiet.mp4",
        quiet_params,
        made_by=ClipIdentity("m", "m", "ltx2", "x"),
        video=VideoConfig(),
        credentials=credentials,
    )
    assert "audio" in streams(Path(loud.path)) and "audio" not in streams(Path(quiet.path))
    assert check_clip(Path(loud.path)).sound and not check_clip(Path(quiet.path)).sound
    assert check_clip(Path(quiet.path)).valid


def test_a_short_soundtrack_is_padded_to_the_last_frame(tmp_path: Path) -> None:
    encode_mp4(np.zeros((16, 64, 64, 3), np.uint8), tmp_path / "c.mp4", fps=8, soundtrack=tone(1.0))
    found = streams(tmp_path / "c.mp4")
    assert abs(found["audio"][1] - 2.0) < 0.01 and abs(found["video"][1] - 2.0) < 0.01


def test_fitting_a_clip_to_a_size_keeps_its_sound(tmp_path: Path) -> None:
    path = tmp_path / "big.mp4"
    big = encode_mp4(noise(), path, fps=8, soundtrack=tone(2.0, hz=220.0), crf=0)
    fitted = fit_to_size(path, big.size_bytes // 3)
    assert fitted.size_bytes <= big.size_bytes // 3 and fitted.path != str(path)
    sound = read_soundtrack(Path(fitted.path))
    assert sound is not None and sound.rate == 16_000
    spectrum = np.abs(np.fft.rfft(sound.samples[0, 4096:20000]))
    peak_hz = np.argmax(spectrum) * 16_000 / (20000 - 4096)
    assert abs(peak_hz - 220.0) < 5, "the same sound, not silence"


def test_silent_is_a_flag_anywhere_in_the_command() -> None:
    assert parse_video_text("drums in the rain --silent --seed 3").silent
    args = parse_video_text("drums --silent in the rain")
    assert args.silent and args.prompt == "drums in the rain"
    assert not parse_video_text("drums in the rain").silent
    with pytest.raises(CommandError):
        parse_video_text("drums --silent=yes")


def test_audio_false_is_a_model_setting(tmp_path: Path) -> None:
    raw = tiny_settings(tmp_path / "data")
    raw.pop("model", None)
    raw["video"].update(default_frames=9, min_frames=9)
    raw["models"] = {"loud": {"id": "tiny-ltx2"}, "quiet": {"id": "tiny-ltx2", "audio": False}}
    config = parse_config(raw, "t.toml", {})
    assert config.model_named("loud").audio and not config.model_named("quiet").audio


@pytest.mark.asyncio
async def test_a_silent_job_is_delivered_without_sound_and_stored_as_silent(
    make_bot: MakeBot, make_config: MakeConfig, renders: None
) -> None:
    frames = {"default_frames": 9, "min_frames": 9, "max_frames": 17}
    renderer = Renderer("tiny-ltx2", tuning=COLD)
    renderer.load()
    bot = await make_bot(config=make_config(model={"id": "tiny-ltx2"}, video=frames), renderer=renderer)
    loud = await bot.video("drums in the rain --seed 4")
    quiet = await bot.video("drums in the rain --seed 4 --silent")
    done_loud = await bot.until_status(loud.id, JobStatus.DONE)
    done_quiet = await bot.until_status(quiet.id, JobStatus.DONE)
    assert done_loud.clip_path and done_quiet.clip_path
    assert read_soundtrack(Path(done_loud.clip_path)) is not None
    assert read_soundtrack(Path(done_quiet.clip_path)) is None
    stored = bot.store.jobs.get(quiet.id)
    assert stored is not None and stored.params.silent, "kept in SQLite"


@pytest.mark.asyncio
async def test_telegram_sends_a_clip_with_sound_by_send_video(
    telegram_fake: FakeTelegram, make_config: MakeConfig, tmp_path: Path, renders: None
) -> None:
    frames = {"default_frames": 9, "min_frames": 9, "max_frames": 17}
    async with start_bot(telegram_fake, make_config, model={"id": "tiny-ltx2"}, video=frames) as bot:
        bot.fake.send_message(11, 11, "/video drums in the rain --seed 2", chat_type="private")
        sent = await bot.fake.wait_for_call("sendVideo")
    clip = tmp_path / "sent.mp4"
    clip.write_bytes(sent.files["video"])
    sound = read_soundtrack(clip)
    assert sound is not None and sound.channels == 2 and check_clip(clip).sound

"""Picture checks with many people sending at once (issue #32's bound: each answered within 2 s
with 10 people sending at the same moment).

    .venv/bin/python bench/pictures.py            # 1 and 10 people, 12-megapixel phone photos

Each person sends `/video … --model ltx` with a photo of their own (scikit-image's pictures without
people, enlarged to a phone camera's 4032-px longer side and saved as JPEG), all at the same moment, through
the real core: quota and pace, the download, Pillow's checks, the face gate on every view the
model will be given, the Content Credentials read, the picture kept.  An answer is either the
job queued or one sentence: "busy, try again in a moment" (`[provenance] verify_threads` and
`verify_backlog` bound the checks) or a refusal; each counts as answered.  No render runs: the
worker is not started.
"""

from __future__ import annotations

import asyncio
import io
import statistics
import time

import harness
from PIL import Image

from bot.app import build_service
from bot.domain import ChatRef, Request, UserRef
from bot.settings.loading import parse_config
from tests.harness.outbox import RecordingOutbox
from tests.harness.pictures import upload

BOUND_S = 2.0  # issue #32: each picture check answered within 2 s with 10 people at once
PHOTOS = ["coffee", "chelsea", "rocket", "coins", "moon", "horse", "brick", "text", "page", "cat", "clock"]


def phone_photo(name: str, side: int) -> bytes:
    """A scikit-image picture without people, enlarged to a longer side of `side`, as a phone's JPEG."""
    from skimage import data

    picture = Image.fromarray(getattr(data, name)()).convert("RGB")
    scale = side / max(picture.size)
    picture = picture.resize((round(picture.width * scale), round(picture.height * scale)))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90)
    return out.getvalue()


async def burst(people: int, side: int) -> list[object]:
    """A row: people, photo size, answered, queued, refused, median / max answer s, verdict, sentences."""
    photos = [phone_photo(PHOTOS[n % len(PHOTOS)], side) for n in range(people)]
    with harness.data_dir() as data:
        settings = harness.bot_settings(data, frames=9, video={"picture_every_s": 0})
        del settings["model"]  # two models, as pictures_config has them: tiny text, tiny-ltx animates
        settings["models"] = {"ms": {"id": "tiny"}, "ltx": {"id": "tiny-ltx"}}
        service = build_service(parse_config(settings, "<bench>", {}))
        outbox, refusals = RecordingOutbox(), set[str]()
        service.add_outbox("telegram", outbox)

        async def send(n: int) -> tuple[float, bool]:
            user = UserRef("telegram", f"person{n}", f"Person {n}")
            request = Request(user, ChatRef("telegram", user.id), reply_to=str(n))
            started = time.perf_counter()
            job = await service.video_text(request, "it moves --model ltx", picture=upload(photos[n]))
            seconds = time.perf_counter() - started
            if job is None:  # the sentence they were answered, for the table's notes
                said = [r.text for r in outbox.records if r.chat == request.chat]
                refusals.add(said[-1] if said else "(no answer)")
            return seconds, job is not None

        try:
            answers = await asyncio.gather(*(send(n) for n in range(people)))
        finally:
            service.stop()
            service.store.close()
    times = [seconds for seconds, _ in answers]
    queued = sum(1 for _, accepted in answers if accepted)
    return [
        people,
        f"longer side {side} px",
        len(answers),
        queued,
        len(answers) - queued,
        round(statistics.median(times), 2),
        round(max(times), 2),
        harness.verdict(max(times) <= BOUND_S),
        " / ".join(sorted(refusals)),
    ]


async def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--people", type=int, nargs="+", help="people sending at once (default 1 10)")
    parser.add_argument("--side", type=int, help="the photos' longer side in px (default 4032; quick 1024)")
    args = harness.parse(parser, {"people": ([1, 10], [1, 3]), "side": (4032, 1024)})
    rows = [await burst(people, args.side) for people in args.people]
    report = harness.Report("pictures", args, f"picture checks, everyone at once, bound {BOUND_S:.0f} s")
    report.table(
        "Picture checks with many people at once",
        [
            "people",
            "photo",
            "answered",
            "queued",
            "refused",
            "median s",
            "max s",
            f"≤ {BOUND_S:.0f} s",
            "what the refused read",
        ],
        rows,
        [
            "an answer is the job queued or one sentence (busy: try again in a moment; or a refusal) — "
            "no render runs; the cat close-up (chelsea) enlarged is a known false face: it fails closed"
        ],
    )
    report.finish()


if __name__ == "__main__":
    asyncio.run(main())

"""No network on anyone's say-so (#32, G2): a picture or an MP4 whose XMP names a remote
manifest (`dcterms:provenance`) never makes the bot open a connection — not on `/verify`, not
on a picture check, not when a clip with that picture as its ingredient is signed.

The listener accepts connections and never answers: a reader that fetched would hang on it for
c2pa's ~30 s timeout, so both "zero connections" and the deadline can fail."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.core.credentials import CredentialsState
from bot.encode import encode_clip
from bot.faces import FaceDetector
from bot.pictures import PictureInspector
from bot.pipelines.clip import RenderedClip
from bot.provenance import ContentCredentials, check_clip, ensure_local_identity
from bot.provenance.verify import check_picture, trust_anchors
from bot.settings.sections import VideoConfig
from tests.harness.config import MakeConfig
from tests.harness.core import ALICE, MakeBot
from tests.harness.pictures import coffee_jpeg, encode, photo, upload
from tests.test_provenance import MODEL, PARAMS, gradient

DEADLINE_S = 5.0  # a fetch would wait ~30 s on the silent listener; an offline read takes ms
XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")  # XMP's ISO BMFF `uuid` box


class SilentListener:
    """A loopback TCP port that accepts, counts and never says a word."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.accepted = 0
        self.held: list[socket.socket] = []
        self.url = f"http://127.0.0.1:{self.server.getsockname()[1]}/manifest.c2pa"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(connection)

    def close(self) -> None:
        self.server.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def listener() -> Iterator[SilentListener]:
    silent = SilentListener()
    yield silent
    silent.close()


def xmp(url: str) -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:dcterms="http://purl.org/dc/terms/" dcterms:provenance="{url}"/>'
        "</rdf:RDF></x:xmpmeta>"
    ).encode()


def jpeg_naming(url: str) -> bytes:
    """A real photograph with an XMP APP1 segment naming `url` as its manifest."""
    data = coffee_jpeg()
    segment = b"http://ns.adobe.com/xap/1.0/\0" + xmp(url)
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(segment) + 2) + segment + data[2:]


def png_naming(url: str) -> bytes:
    data = encode(photo("coffee"), "PNG")
    body = b"iTXt" + b"XML:com.adobe.xmp\0\0\0\0\0" + xmp(url)
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body))
    return data[:33] + chunk + data[33:]  # right after IHDR


def mp4_naming(url: str, tmp_path: Path) -> bytes:
    """An unsigned clip of ours with a top-level XMP `uuid` box naming `url`."""
    path = tmp_path / "plain.mp4"
    encode_clip(
        RenderedClip(gradient(), PARAMS.fps),
        path,
        PARAMS,
        made_by=MODEL,
        video=VideoConfig(),
        credentials=ContentCredentials(None),
    )
    box = XMP_UUID + xmp(url)
    return path.read_bytes() + struct.pack(">I4s", len(box) + 8, b"uuid") + box


def answered_in_time(check: Callable[[], Any]) -> Any:
    """`check()` in a thread, failing the test if it has not answered by the deadline."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(check()), daemon=True)
    thread.start()
    thread.join(DEADLINE_S)
    assert result, f"no answer within {DEADLINE_S} s: the check waited on the network"
    return result[0]


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_a_picture_naming_a_remote_manifest_is_checked_without_a_connection(
    listener: SilentListener, kind: str, tmp_path: Path
) -> None:
    data = jpeg_naming(listener.url) if kind == "jpeg" else png_naming(listener.url)
    assert listener.url.encode() in data
    anchors = trust_anchors(ensure_local_identity(tmp_path / "data").chain_pem.decode())

    assert answered_in_time(lambda: check_picture(data, f"image/{kind}", own_anchors=anchors)) is None
    inspect = PictureInspector(
        20_000_000, FaceDetector.shared(), lambda d, m: check_picture(d, m, own_anchors=anchors)
    )
    facts = answered_in_time(lambda: inspect(data))
    assert facts.faces == 0 and facts.picture.credentials == ""  # nothing embedded: no credentials
    assert listener.accepted == 0


def test_verify_on_an_mp4_naming_a_remote_manifest_makes_no_connection(
    listener: SilentListener, tmp_path: Path
) -> None:
    data = mp4_naming(listener.url, tmp_path)
    assert answered_in_time(lambda: check_clip(data)).state == CredentialsState.MISSING
    assert listener.accepted == 0


def test_signing_a_clip_whose_picture_names_a_remote_manifest_makes_no_connection(
    listener: SilentListener, tmp_path: Path
) -> None:
    picture = tmp_path / "picture.jpeg"
    picture.write_bytes(jpeg_naming(listener.url))
    signer = ContentCredentials(ensure_local_identity(tmp_path / "data"))
    record = replace(
        signer.record(PARAMS, MODEL),
        picture={"format": "image/jpeg", "sha256": "0" * 64},
        picture_path=str(picture),
    )
    clip = tmp_path / "clip.mp4"
    encode_clip(
        RenderedClip(gradient(), PARAMS.fps),
        clip,
        PARAMS,
        made_by=MODEL,
        video=VideoConfig(),
        credentials=ContentCredentials(None),
    )

    assert answered_in_time(lambda: signer.sign(clip, record)) is True
    assert check_clip(clip).state == CredentialsState.VALID and check_clip(clip).from_picture
    assert listener.accepted == 0


@pytest.mark.asyncio
async def test_verify_in_a_chat_answers_at_once_and_the_named_address_hears_nothing(
    listener: SilentListener, make_bot: MakeBot, make_config: MakeConfig, tmp_path: Path
) -> None:
    bot = await make_bot(config=make_config(provenance={"verify_every_s": 0}))
    await asyncio.wait_for(
        bot.service.verify(bot.req(ALICE), upload(mp4_naming(listener.url, tmp_path))), DEADLINE_S
    )
    assert bot.last_text.startswith("No Content Credentials in this file"), bot.last_text
    assert listener.accepted == 0

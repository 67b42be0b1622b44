"""Reading a clip's Content Credentials back: who signed it, when, what it says, and whether
the file is still the one that was signed."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import c2pa

from bot.core.credentials import CredentialsCheck, CredentialsState
from bot.provenance.boxes import TooManyBoxes, count_boxes
from bot.provenance.manifest import GENERATION_LABEL, MIME, TRAINED_ALGORITHMIC_MEDIA, GenerationRecord

log = logging.getLogger(__name__)

UNTRUSTED = "signingCredential.untrusted"  # a private CA: expected, not a sign of tampering
# c2pa opens connections on a file's say-so: a manifest named by a `dcterms:provenance` URL in its
# XMP (a blind request from the bot's address, and a ~30 s wait), and certificate status (OCSP).
# Off for every reader and builder: nothing inside a file people send makes the bot connect.
OFFLINE: dict[str, Any] = {
    "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
    "builder": {"certificate_status_fetch": None},
}


def offline_context(anchors: str = "") -> c2pa.Context:
    """A c2pa context that never goes on the network; `anchors` (PEM) its only trust anchors."""
    config: dict[str, Any] = {key: dict(value) for key, value in OFFLINE.items()}
    if anchors:
        config["verify"]["verify_trust"] = True
        config["trust"] = {"trust_anchors": anchors}
    return c2pa.Context.from_dict(config)


def check_clip(source: Path | bytes) -> CredentialsCheck:
    """What a clip's manifest says, for a file on disk or bytes someone sent; never raises.

    A file with more boxes than any clip has is refused before c2pa reads it (its reader
    slows down with the square of the box count)."""
    return _check(source, MIME)


def _check(source: Path | bytes, mime: str, anchors: str = "") -> CredentialsCheck:
    try:
        data = source if isinstance(source, bytes) else source.read_bytes()
        if mime == MIME:
            count_boxes(data)
    except TooManyBoxes as error:
        log.info("refused to read Content Credentials: %s", error)
        return CredentialsCheck(CredentialsState.UNREADABLE)
    except (OSError, ValueError):
        return CredentialsCheck(CredentialsState.UNREADABLE)
    try:
        manifest, state, failures = _read(data, mime, anchors)
    except c2pa.C2paError.ManifestNotFound:
        return CredentialsCheck(CredentialsState.MISSING)
    except c2pa.C2paError as error:
        if _names_remote_manifest(error):  # never fetched: nothing the file itself carries
            return CredentialsCheck(CredentialsState.MISSING)
        log.info("could not read Content Credentials: %s", error)
        return CredentialsCheck(CredentialsState.UNREADABLE)
    except Exception as error:  # c2pa raises more than C2paError on damaged files (KeyError seen)
        log.info("could not read Content Credentials: %s", error)
        return CredentialsCheck(CredentialsState.UNREADABLE)
    if manifest is None:
        return CredentialsCheck(CredentialsState.MISSING)
    try:
        return _describe(manifest, state, failures)
    except Exception as error:  # a manifest of unexpected shape: a verdict all the same
        log.info("could not make sense of Content Credentials: %s", error)
        return CredentialsCheck(CredentialsState.ALTERED)


def _describe(manifest: dict[str, Any], state: str, failures: list[str]) -> CredentialsCheck:
    problems = tuple(code for code in failures if code != UNTRUSTED)
    inputs = [i for i in manifest.get("ingredients", []) if i.get("relationship") == "inputTo"]
    parents = [i for i in manifest.get("ingredients", []) if i.get("relationship") == "parentOf"]
    intact = state in ("Valid", "Trusted") and not problems
    signature = manifest.get("signature_info") or {}
    created = _created_action(manifest)
    generation = _assertion(manifest, GENERATION_LABEL) or {}
    model = (created.get("parameters") or {}).get("model") or (generation.get("model") or {}).get("name", "")
    return CredentialsCheck(
        CredentialsState.VALID if intact else CredentialsState.ALTERED,
        signer=str(signature.get("common_name", "")),
        issuer=str(signature.get("issuer", "")),
        signed_at=str(signature.get("time") or created.get("when") or ""),
        model=str(model),
        ai_generated=created.get("digitalSourceType") == TRAINED_ALGORITHMIC_MEDIA,
        trusted=state == "Trusted",
        problems=problems,
        from_picture=bool(inputs),
        picture_had_credentials=any(i.get("active_manifest") for i in inputs),
        loras=tuple(
            f"{lora.get('name', '?')} ×{lora.get('scale', 1)} sha256:{str(lora.get('sha256', ''))[:12]}"
            for lora in (created.get("parameters") or {}).get("loras") or ()
            if isinstance(lora, dict)
        ),
        sound=bool((created.get("parameters") or {}).get("audio")),
        extends_clip=bool(parents),
        parent_had_credentials=any(i.get("active_manifest") for i in parents),
    )


def read_record(path: Path) -> GenerationRecord | None:
    """The generation record signed into `path`, if it carries an intact one."""
    try:
        manifest, state, failures = _read(path)
        data = _assertion(manifest, GENERATION_LABEL) if manifest else None
        if data is None or state not in ("Valid", "Trusted") or set(failures) - {UNTRUSTED}:
            return None
        return GenerationRecord.from_data(data)
    except Exception:  # damaged files make c2pa raise more than its own errors
        return None


def check_picture(data: bytes, mime: str, own_anchors: str = "") -> CredentialsCheck | None:
    """A picture's own Content Credentials (a still the bot signed, a camera's), or None without.

    With `own_anchors` (the bot's CA certificates, PEM) those are the reader's only trust
    anchors: `trusted` then means "signed by this bot's own chain", which a look-alike
    certificate (same names, same serial, another key) is not."""
    check = _check(data, mime, own_anchors)
    return None if check.state == CredentialsState.MISSING else check


def trust_anchors(chain_pem: str) -> str:
    """The CA certificates of a PEM chain (the signing certificate first), or itself if alone."""
    end = "-----END CERTIFICATE-----"
    certificates = [part.strip() + "\n" + end for part in chain_pem.split(end) if part.strip()]
    return "\n".join(certificates[1:] or certificates)


def _read(
    source: Path | bytes, mime: str = MIME, anchors: str = ""
) -> tuple[dict[str, Any] | None, str, list[str]]:
    stream = io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")  # noqa: SIM115
    with stream, offline_context(anchors) as context, c2pa.Reader(mime, stream, context=context) as reader:
        manifest = reader.get_active_manifest()
        state = reader.get_validation_state() or ""
        results = reader.get_validation_results() or {}
    failures = [item.get("code", "") for item in (results.get("activeManifest") or {}).get("failure", [])]
    return manifest, state, failures


def _names_remote_manifest(error: Exception) -> bool:
    """c2pa's refusal to fetch a remote manifest ("Remote: must fetch remote manifests from …")."""
    return isinstance(error, c2pa.C2paError.RemoteManifest) or str(error).startswith("Remote")


def _assertion(manifest: dict[str, Any], label: str) -> dict[str, Any] | None:
    for assertion in manifest.get("assertions", []):
        if assertion.get("label") == label:
            data = assertion.get("data")
            return data if isinstance(data, dict) else None
    return None


def _created_action(manifest: dict[str, Any]) -> dict[str, Any]:
    for label in ("c2pa.actions.v2", "c2pa.actions"):
        for action in (_assertion(manifest, label) or {}).get("actions", []):
            if action.get("action") == "c2pa.created":
                return dict(action)
    return {}

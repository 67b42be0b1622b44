"""Signing finished MP4s with a C2PA manifest, where the final bytes are made.

Called from the encoder's worker thread, never on the event loop.  A clip that cannot be
signed is still delivered: the failure is logged and counted, never fatal.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import c2pa
from prometheus_client import Counter

from bot.domain import RenderParams
from bot.pipelines.spec import ClipIdentity
from bot.provenance.identity import IdentityError, SigningIdentity, ensure_local_identity, load_identity
from bot.provenance.manifest import (
    MIME,
    GenerationRecord,
    ingredient_definition,
    manifest_definition,
    parent_ingredient,
)
from bot.provenance.verify import offline_context, read_record
from bot.settings.root import Config

log = logging.getLogger(__name__)

CLIPS_SIGNED = Counter("videobot_clips_signed", "MP4s written, by Content Credentials outcome", ["outcome"])


@dataclass
class SigningCounts:
    signed: int = 0
    unsigned: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, signed: bool) -> None:
        with self._lock:
            if signed:
                self.signed += 1
            else:
                self.unsigned += 1
        CLIPS_SIGNED.labels("signed" if signed else "unsigned").inc()


class ContentCredentials:
    """Signs clips as AI-generated with one identity; without one, clips go out unsigned."""

    def __init__(
        self,
        identity: SigningIdentity | None,
        *,
        hash_prompt: bool = False,
        protected_names: bool = False,
        problem: str | None = None,
    ) -> None:
        self.identity = identity
        self.hash_prompt = hash_prompt
        self.protected_names = protected_names
        self.problem = problem
        self.counts = SigningCounts()

    @classmethod
    def from_config(cls, config: Config) -> ContentCredentials:
        """The configured identity (or the bot's own, made on first start); a bad one is one log line."""
        hash_prompt, protected = config.video.hash_prompt_in_metadata, bool(config.policy.protected_names)
        try:
            credentials = cls(
                identity_from_config(config), hash_prompt=hash_prompt, protected_names=protected
            )
        except IdentityError as error:
            problem = f"Content Credentials are off, clips will be sent unsigned: {error}"
            log.error("%s", problem)
            return cls(None, hash_prompt=hash_prompt, protected_names=protected, problem=problem)
        log.info("Content Credentials: clips are signed as %s", credentials.identity_words)
        return credentials

    @property
    def identity_words(self) -> str:
        if self.identity is None:
            return "nobody (unsigned)"
        return f"{self.identity.subject!r} ({self.identity.origin})"

    def record(self, params: RenderParams, made_by: ClipIdentity) -> GenerationRecord:
        """What the manifest of a clip `made_by` that model from `params` states."""
        return GenerationRecord.of(
            params, made_by, hash_prompt=self.hash_prompt, protected_names=self.protected_names
        )

    def sign(self, path: Path, record: GenerationRecord, *, transcoded: str | None = None) -> bool:
        """Sign `path` in place; False (logged, counted) if it could not be signed."""
        signed = self.identity is not None and self._sign(path, record, transcoded)
        self.counts.add(signed)
        return signed

    def record_signed_into(self, source: Path) -> GenerationRecord | None:
        """The record to sign `source`'s re-encodes with; None (logged, counted) if it has none."""
        record = read_record(source)
        if record is None:
            log.warning("%s carries no intact Content Credentials; its re-encodes go unsigned", source)
            self.counts.add(False)
        return record

    def _sign(self, path: Path, record: GenerationRecord, transcoded: str | None) -> bool:
        assert self.identity is not None
        partial = path.with_name(path.name + ".signing")
        try:
            with (
                signer_for(self.identity) as signer,
                offline_context() as context,
                c2pa.Builder(manifest_definition(record, transcoded=transcoded), context=context) as builder,
                open(path, "rb") as source,
                open(partial, "w+b") as dest,
            ):
                if record.picture_path and Path(record.picture_path).is_file():
                    ingredient = ingredient_definition(record)
                    with open(record.picture_path, "rb") as picture:
                        builder.add_ingredient(ingredient, ingredient["format"], picture)
                if record.parent_path and Path(record.parent_path).is_file():
                    with open(record.parent_path, "rb") as parent:
                        builder.add_ingredient(parent_ingredient(record), MIME, parent)
                builder.sign(signer, MIME, source, dest)
            os.replace(partial, path)
            return True
        except Exception:
            log.exception("signing %s failed; it will be sent without Content Credentials", path)
            partial.unlink(missing_ok=True)
            return False


def identity_from_config(config: Config) -> SigningIdentity:
    """`[provenance] cert_chain`/`private_key` when set, else the bot's own under `[storage] dir`."""
    p = config.provenance
    if p.cert_chain or p.private_key:
        identity = load_identity(Path(p.cert_chain), Path(p.private_key), f"from {p.cert_chain}")
    else:
        try:
            identity = ensure_local_identity(config.data_dir)
        except OSError as error:
            raise IdentityError(f"cannot write the bot's own certificate: {error}") from None
    try:  # c2pa's own checks of the chain and key, at start-up rather than at the first clip
        signer_for(identity).close()
    except c2pa.C2paError as error:
        raise IdentityError(f"c2pa refuses the signing certificate: {error}") from None
    return identity


def signer_for(identity: SigningIdentity) -> c2pa.Signer:
    info = c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, identity.chain_pem, identity.key_pem, None)
    return c2pa.Signer.from_info(info)

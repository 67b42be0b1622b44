"""Content Credentials: every clip signed (C2PA) as AI-generated, checkable by anyone.

`ContentCredentials` signs where the final MP4 bytes are made (`bot.encode`); `check_clip`
reads a manifest back for `videobot verify`, `/info` and clips sent to the bot;
`burn_watermark` draws the optional visible mark.
"""

from bot.provenance.identity import IdentityError, SigningIdentity, ensure_local_identity, load_identity
from bot.provenance.manifest import (
    TRAINED_ALGORITHMIC_MEDIA,
    GenerationRecord,
    manifest_definition,
)
from bot.provenance.signing import ContentCredentials, identity_from_config
from bot.provenance.verify import check_clip, read_record
from bot.provenance.watermark import POSITIONS, burn_watermark

__all__ = [
    "POSITIONS",
    "TRAINED_ALGORITHMIC_MEDIA",
    "ContentCredentials",
    "GenerationRecord",
    "IdentityError",
    "SigningIdentity",
    "burn_watermark",
    "check_clip",
    "ensure_local_identity",
    "identity_from_config",
    "load_identity",
    "manifest_definition",
    "read_record",
]

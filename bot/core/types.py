"""The core's plain types live in the leaf module `bot.domain` (the store and the pipelines use them
too without importing the core); this name keeps working for the core and its callers."""

from bot.domain import (
    MAX_NAME_CHARS as MAX_NAME_CHARS,
)
from bot.domain import (
    RESULT_ACTIONS as RESULT_ACTIONS,
)
from bot.domain import (
    AuditEntry as AuditEntry,
)
from bot.domain import (
    Button as Button,
)
from bot.domain import (
    ButtonAction as ButtonAction,
)
from bot.domain import (
    Challenge as Challenge,
)
from bot.domain import (
    ChallengeStatus as ChallengeStatus,
)
from bot.domain import (
    ChatRef as ChatRef,
)
from bot.domain import (
    ChatSettings as ChatSettings,
)
from bot.domain import (
    Clip as Clip,
)
from bot.domain import (
    ClipTooLarge as ClipTooLarge,
)
from bot.domain import (
    Conditioning as Conditioning,
)
from bot.domain import (
    Delivery as Delivery,
)
from bot.domain import (
    Extension as Extension,
)
from bot.domain import (
    Job as Job,
)
from bot.domain import (
    JobStatus as JobStatus,
)
from bot.domain import (
    LeaderboardRow as LeaderboardRow,
)
from bot.domain import (
    Picture as Picture,
)
from bot.domain import (
    PostKind as PostKind,
)
from bot.domain import (
    PostStep as PostStep,
)
from bot.domain import (
    QuotaCharge as QuotaCharge,
)
from bot.domain import (
    QuotaExceeded as QuotaExceeded,
)
from bot.domain import (
    RenderParams as RenderParams,
)
from bot.domain import (
    Request as Request,
)
from bot.domain import (
    Standing as Standing,
)
from bot.domain import (
    Undeliverable as Undeliverable,
)
from bot.domain import (
    UserRef as UserRef,
)
from bot.domain import (
    display_name as display_name,
)

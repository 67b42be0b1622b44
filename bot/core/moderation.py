"""The prompt policy lives in the leaf module `bot.moderation` (the settings check compiles it at
load without importing the core); this name keeps working for the core and its callers."""

from bot.moderation import PromptPolicy as PromptPolicy
from bot.moderation import Refusal as Refusal
from bot.moderation import normalise as normalise

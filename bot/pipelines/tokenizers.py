"""The tiny families' T5 tokenizer, made in code (the hub's tiny test tokenizers are unreachable
offline).  A leaf: `tiny`, `ltx2` and `sana_video` all build on it without importing each other."""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import T5Tokenizer


def t5_tokenizer() -> T5Tokenizer:
    """A Unigram T5 tokenizer from a ~120-piece vocabulary: letters, digits, punctuation."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    pieces += [(ch, -2.0) for ch in string.ascii_letters + string.digits + string.punctuation]
    pieces += [("\u2581" + ch, -1.5) for ch in string.ascii_lowercase]
    return T5Tokenizer(vocab=pieces, extra_ids=0)

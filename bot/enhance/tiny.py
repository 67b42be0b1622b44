"""`tiny-qwen3`: a real `Qwen3ForCausalLM` with ~35k random weights and a byte-level BPE tokenizer
made in code (the hub is unreachable offline), for tests, `demo --tiny` and the console.

Its output is random bytes, so it proves the path (chat template, generation, decoding, the
sanitiser and its fallback) and never the prose.  `scripted` rewires the same architecture so
greedy decoding writes a given text, word by word, which lets tests see a rewrite accepted.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast, Qwen3ForCausalLM

# Qwen's own ChatML layout; `enable_thinking` (Qwen3's switch) is accepted and ignored.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
HIDDEN = 32
SEED = 0


def byte_symbols() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values, in byte order (token id = byte value;
    `ByteLevel.alphabet()` is a set, whose order changes from one process to the next)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    extra = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(extra)) for b in range(256)]


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """256 byte symbols, no merges, ChatML's special tokens and chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {symbol: index for index, symbol in enumerate(byte_symbols())}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def tiny_model(vocab_size: int, eos: int, pad: int, hidden: int = HIDDEN) -> Qwen3ForCausalLM:
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=4096,
        eos_token_id=eos,
        pad_token_id=pad,
        bos_token_id=None,
        tie_word_embeddings=False,
    )
    torch.manual_seed(SEED)
    return Qwen3ForCausalLM(config).eval()


def tiny_qwen3() -> tuple[Qwen3ForCausalLM, PreTrainedTokenizerFast]:
    tokenizer = tiny_tokenizer()
    model = tiny_model(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id)
    return model, tokenizer


def scripted(text: str) -> tuple[Qwen3ForCausalLM, PreTrainedTokenizerFast]:
    """A tiny Qwen3 whose greedy answer to any chat is `text`: each word of it becomes a token,
    every layer's output projection is zeroed (the residual stream is the token's own embedding),
    embeddings of the chain are orthonormal, and the head maps each to the next word, the last
    to end-of-turn.  The words must differ from each other."""
    import torch

    words = re.findall(r"\S+", text)
    pieces = [words[0]] + [" " + word for word in words[1:]]
    if len(set(pieces)) != len(pieces):
        raise ValueError("a scripted answer needs words that differ from each other")
    tokenizer = tiny_tokenizer()
    tokenizer.add_tokens(pieces)
    ids: list[int] = tokenizer.convert_tokens_to_ids(["Ċ", *pieces])  # type: ignore[assignment]
    chain = [*ids, tokenizer.eos_token_id]  # "Ċ": the "\n" after "<|im_start|>assistant"
    hidden = max(HIDDEN, -(-len(chain) // 8) * 8)
    model = tiny_model(len(tokenizer), tokenizer.eos_token_id, tokenizer.pad_token_id, hidden)
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        basis = torch.linalg.qr(torch.randn(hidden, hidden))[0].T  # orthonormal rows
        embeddings = model.model.embed_tokens.weight
        embeddings[torch.tensor(chain[:-1])] = basis[: len(chain) - 1]
        model.model.norm.weight.fill_(1.0)
        head = model.lm_head.weight
        head.zero_()
        for index, token in enumerate(chain[1:]):
            head[token] = 10.0 * basis[index]
    return model, tokenizer

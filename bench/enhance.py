"""What the prompt writer adds to a clip: loading once, then per rewrite the tokens written, tokens
per second and the wall time a person waits before the render can start (the slot, generation and
the sanitiser together).

    .venv/bin/python bench/enhance.py                         # tiny-qwen3 on the CPU, 1 and 2 threads
    .venv/bin/python bench/enhance.py --model Qwen/Qwen3-1.7B --device auto   # a pulled real writer

`tiny-qwen3` writes random bytes, which the sanitiser refuses; it may happen on its end-of-turn
token early, so a second row takes that token away and writes all `[enhance] max_new_tokens` (256),
the worst case.  The scripted tiny writer writes a 15-word paragraph that is accepted.  The first
row's load time includes importing torch and transformers.  Bound: the tiny writer
adds under 2 s per clip on 2 CPU cores.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from typing import Any

import harness

from bot.enhance import PromptWriter, WriterSlot
from bot.enhance.tiny import scripted, tiny_qwen3
from bot.settings.enhance import EnhanceConfig

BOUND_S = 2.0
PROMPTS = ("un gatto che fa surf", "a dog on the moon", "ein Hund fährt Fahrrad im Regen")
SCRIPT = "A ginger cat surfs turquoise waves at golden sunset, camera tracking slowly beside the board."


async def measure(name: str, config: EnhanceConfig, reps: int, build: Any = None) -> list[Any]:
    writer = PromptWriter(config, build=build)
    started = time.perf_counter()
    await asyncio.get_running_loop().run_in_executor(None, writer.load)
    load_s = time.perf_counter() - started
    slot = WriterSlot(writer)
    waits, rates, tokens, used = [], [], [], 0
    for rep in range(reps):
        prompt = PROMPTS[rep % len(PROMPTS)]
        started = time.perf_counter()
        rewrite = await slot.rewrite(f"bench:{rep}", prompt, "wan")
        waits.append(time.perf_counter() - started)
        tokens.append(rewrite.tokens)
        rates.append(rewrite.tokens / rewrite.seconds if rewrite.seconds else 0.0)
        used += rewrite.rewritten
    slot.close()
    return [
        name,
        config.cpu_threads,
        load_s,
        statistics.median(tokens),
        statistics.median(rates),
        harness.ms(statistics.median(waits)),
        harness.ms(max(waits)),
        f"{used}/{reps}",
    ]


def endless() -> Any:
    """tiny-qwen3 that never ends its turn: every rewrite runs to max_new_tokens."""
    model, tokenizer = tiny_qwen3()
    model.generation_config.eos_token_id = len(tokenizer) + 1  # an id it cannot write
    return model, tokenizer


def qwen3_1_7b_shape(dtype: str) -> Any:
    """Qwen3-1.7B's architecture (its published config.json) with random weights and the tiny
    tokenizer: the speed of the real writer without its 4 GB download.  Random weights almost never
    write the tiny tokenizer's end-of-turn (one id in 151,936), so a rewrite writes ~max_new_tokens."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from bot.enhance.tiny import tiny_tokenizer

    tokenizer = tiny_tokenizer()
    config = Qwen3Config(
        vocab_size=151936, hidden_size=2048, intermediate_size=6144, num_hidden_layers=28,
        num_attention_heads=16, num_key_value_heads=8, head_dim=128, max_position_embeddings=40960,
        tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(config).to(getattr(torch, dtype)).eval()
    return model, tokenizer


def main() -> None:
    parser = harness.parser(__doc__)
    parser.add_argument("--reps", type=int, help="rewrites per row (default 6; quick 2)")
    parser.add_argument("--model", default="", help="also measure this writer (hub id, folder), offline")
    parser.add_argument("--device", default="cpu", choices=("cpu", "auto"), help="for --model, --shape")
    parser.add_argument(
        "--shape",
        action="store_true",
        help="also Qwen3-1.7B's architecture with random weights (no download)",
    )
    parser.add_argument("--tokens", type=int, default=256, help="max_new_tokens for --model and --shape")
    parser.add_argument("--dtype", default="bfloat16", help="for --shape: float32 or bfloat16")
    args = harness.parse(parser, quick={"reps": (6, 2)})
    threads = (1,) if args.quick else (1, 2)
    report = harness.Report("enhance", args, f"prompt writer, medians of {args.reps} rewrites")
    rows = []
    for count in threads:
        base = EnhanceConfig(model="tiny-qwen3", every_s=0, timeout_s=60, cpu_threads=count)
        rows.append(asyncio.run(measure("tiny-qwen3 (random)", base, args.reps)))
        rows.append(asyncio.run(measure("tiny-qwen3 (random, no end)", base, args.reps, endless)))
        rows.append(asyncio.run(measure("tiny-qwen3 (scripted)", base, args.reps, lambda: scripted(SCRIPT))))
    big = {
        "device": args.device,
        "every_s": 0,
        "timeout_s": 3600,
        "cpu_threads": 2,
        "max_new_tokens": args.tokens,
    }
    if args.model:
        rows.append(asyncio.run(measure(args.model, EnhanceConfig(model=args.model, **big), args.reps)))
    if args.shape:
        shaped = EnhanceConfig(model="Qwen3-1.7B shape", **big)
        build = lambda: qwen3_1_7b_shape(args.dtype)  # noqa: E731
        rows.append(
            asyncio.run(measure(f"Qwen3-1.7B shape, random ({args.dtype})", shaped, args.reps, build))
        )
    columns = ["writer", "threads", "load s", "tokens", "tokens/s", "added ms", "worst ms", "rewrites used"]
    default = EnhanceConfig().cpu_threads
    tiny_worst = max(row[6] for row in rows if str(row[0]).startswith("tiny") and row[1] == default)
    met = harness.verdict(tiny_worst < BOUND_S * 1000)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    report.table(
        "Added latency per clip",
        columns,
        rows,
        notes=[
            f"tiny writer adds under {BOUND_S:g} s per clip with [enhance] cpu_threads = {default} "
            f"(the default), worst of every row: {met}",
            f"load average while measuring: {load} (other work on the same cores slows 2-thread rows most)",
        ],
    )
    report.finish()


if __name__ == "__main__":
    main()

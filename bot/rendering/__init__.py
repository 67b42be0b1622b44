"""The GPU side, one module per concern: `errors` (what loading and rendering raise), `loading`
(weights on disk → a pipeline), `tuning` (the `[render]` memory modes, step caching, compiling),
`renderer` (one model's pipeline: warm-up, batches, progress, cancel, out-of-memory) and `pool`
(which models are resident).  `bot.render` is the face the rest of the bot imports.
"""

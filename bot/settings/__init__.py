"""Settings in rooms: `sections` (each table's fields with their bounds), `bounds` (the one checker
that reads them), `models` (a model's resolved settings), `root` (the whole `Config`), `checks`
(rules between fields) and `loading` (TOML in)."""

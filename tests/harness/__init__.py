"""The one test harness: every test module builds its world from these pieces, never from another test module.

- `clock`: `ManualClock`, the one controllable clock.
- `polling`: `eventually`, a deadline poll for state no event announces.
- `config`: the tiny-model settings and the `make_config` fixture.
- `outbox`: `RecordingOutbox`, the whole `Outbox` port in memory.
- `media`: `decode`, what an MP4 the bot sent holds.
- `core`: `CoreBot` and `make_bot`, the core with the recording outbox.
- `telegram`, `discord`: the real adapters against the loopback fakes in `tests.fakes`.
- `console`: `videobot` child processes fed through stdin.
- `saq`: a real `redis-server` and `python -m bot worker` child processes (the SAQ backend).

`tests/conftest.py` registers the fixtures as plugins, so test modules name them as parameters.
"""

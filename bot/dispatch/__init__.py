"""Render backends: implementations of the core's `RenderBackend` port.

`LocalBackend` (in `local.py`) is the embedded default: one in-process worker that owns
the GPU.  Import it from its module; this package imports nothing heavy by itself.
"""

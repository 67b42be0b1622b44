"""A cheap walk over an MP4's box headers, before a C2PA reader sees the file.

c2pa's reader slows down with the square of the number of boxes (an `ftyp` and 100,000
empty `free` boxes took it 89 s); a real clip has a few dozen.  Walking the headers costs
microseconds per box, reads nothing but headers, and stops at the limit.
"""

from __future__ import annotations

import struct

MAX_BOXES = 1000  # our clips have ~40 boxes in all; a fragmented MP4 from a phone a few hundred
# boxes whose payload is more boxes (ISO/IEC 14496-12); `meta` has a 4-byte version header first
_CONTAINERS = {
    b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts", b"dinf", b"moof", b"traf", b"mvex",
    b"mfra", b"meta",
}  # fmt: skip


class TooManyBoxes(ValueError):
    """The file holds more boxes than any clip we check would."""


def count_boxes(data: bytes, limit: int = MAX_BOXES) -> int:
    """Boxes in `data` (top level and inside container boxes); `TooManyBoxes` past `limit`,
    `ValueError` when a header runs past its parent (not an MP4)."""
    count = 0
    stack = [(0, len(data))]
    while stack:
        offset, end = stack.pop()
        while offset < end:
            if end - offset < 8:
                raise ValueError("a box header runs past the end of the file")
            size, kind = struct.unpack_from(">I4s", data, offset)
            header = 8
            if size == 1:
                if end - offset < 16:
                    raise ValueError("a box header runs past the end of the file")
                size = struct.unpack_from(">Q", data, offset + 8)[0]
                header = 16
            elif size == 0:
                size = end - offset  # to the end of its parent
            if size < header or offset + size > end:
                raise ValueError(f"box {kind!r} at {offset} claims {size} bytes")
            count += 1
            if count > limit:
                raise TooManyBoxes(f"more than {limit} boxes")
            if kind in _CONTAINERS:
                skip = 4 if kind == b"meta" else 0
                stack.append((offset + header + skip, offset + size))
            offset += size
    return count

"""Write the seed corpora of the harnesses whose input is not an HTTP request.

    python fuzz/py/seeds.py

writes tests/corpus/fuzz/py-ws_frames/seed-*.bin (a settings byte, then client frames: every
opcode, the three length forms, fragments with a ping between, a compressed message, a close)
and tests/corpus/fuzz/py-response_writer/seed-*.bin (call programs, see response_writer.py).
The HTTP harnesses start from tests/corpus/valid and invalid (`make fuzz-py` passes them).
Files whose names do not start with `seed-` (findings kept as regressions) are left alone.
"""

from __future__ import annotations

import random
import struct
import sys
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

MASK = b"\x37\xfa\x21\x3d"


def frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """A masked client frame, in the shortest length form."""
    n = len(payload)
    first = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    if n < 126:
        head = first + bytes([0x80 | n])
    elif n < 0x10000:
        head = first + bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head = first + bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(payload))


def deflated(data: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return (c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))[:-4]


WS = {
    "text": b"\x00" + frame(0x1, "héllo".encode()),
    "binary_16bit_length": b"\x00" + frame(0x2, bytes(range(256)) * 2),
    "fragments_with_ping": b"\x00"
    + frame(0x1, b"hel", fin=False)
    + frame(0x9, b"p")
    + frame(0x0, b"lo"),
    "pong_then_close": b"\x00" + frame(0xA, b"x") + frame(0x8, struct.pack("!H", 1000) + b"bye"),
    "compressed": b"\x01" + frame(0x1, deflated(b"compressed " * 8), rsv=4),
    "small_limit": b"\x04" + frame(0x2, b"x" * 200),
    "bad_opcode": b"\x00" + frame(0x3, b"x"),
}


def write() -> None:
    ws_dir = common.seeds_dir("ws_frames")
    writer_dir = common.seeds_dir("response_writer")
    for folder in (ws_dir, writer_dir):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("seed-*.bin"):
            stale.unlink()
    for name, data in WS.items():
        (ws_dir / f"seed-{name}.bin").write_bytes(data)
    rng = random.Random(15)
    for i in range(16):
        program = bytes(rng.randrange(256) for _ in range(rng.randrange(8, 120)))
        (writer_dir / f"seed-{i:02d}.bin").write_bytes(program)


if __name__ == "__main__":
    write()

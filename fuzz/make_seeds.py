"""Write the seed corpora of the fuzz harnesses: tests/corpus/fuzz/<harness>/.

Strategy: seeds are made here from reviewable sources (the request corpus of
tests/corpus/make_corpus.py, frames encoded by fuzz/targets.py, short literal strings), so they
can be regenerated after a format change; every file is small. Each seed starts with the setting
bytes its harness reads (fuzz/targets.py, fuzz/fuzz_*.c), cycled so that every limit set, buffer
kind and mode appears. Stale seeds are removed; `regressions/` folders are never touched (they
hold crashes the fuzzers found, kept as they were found). Run

    python fuzz/make_seeds.py
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT = ROOT / "tests" / "corpus" / "fuzz"
sys.path[:0] = [str(HERE), str(ROOT / "src")]

from targets import _frame  # noqa: E402


def request_parser() -> dict[str, bytes]:
    seeds = {}
    files = sorted((ROOT / "tests" / "corpus").glob("*/*.http"))
    for i, path in enumerate(p for p in files if p.stat().st_size <= 2048):
        # opts: limits (i % 4), buffer kind, accept upgrades; pieces of 1 to 2**k bytes.
        opts, sizes = i % 32, 8 | (i % 8)
        seeds[f"{path.parent.name}-{path.stem}"] = (
            bytes([opts, sizes, i & 0xFF, 0]) + path.read_bytes()
        )
    return seeds


def _response(
    method: int = 0,
    version10: bool = False,
    close: bool = False,
    trailers: bool = False,
    status: int = 0,
    headers: tuple[tuple[int, int, bytes], ...] = (),
    bodies: tuple[tuple[bytes, bool, bool], ...] = ((b"hello", False, False),),
    trailer_fields: tuple[tuple[int, int], ...] = (),
    hint: int = 0,
    reset: bool = False,
) -> bytes:
    """One response in the order fuzz/targets.py `_one_response` reads it."""
    out = bytes([method | 8 * version10 | 16 * close | 32 * trailers, status, len(headers)])
    for n, v, extra in headers:
        out += bytes([n, v]) + extra
    out += bytes([len(bodies) - 1])
    for content, more, external in bodies:
        out += bytes([len(content) | 0x40 * more | 0x80 * external]) + content
    out += bytes([len(trailer_fields)])
    for n, v in trailer_fields:
        out += bytes([n, v])
    out += bytes([1, 0, hint]) if hint else b"\x00"
    out += b"\x03" if reset else b"\x00"
    return out


def response_writer() -> dict[str, bytes]:
    # NAMES: 0 content-length, 1 transfer-encoding, 2 connection, 3 content-type, 4 trailer;
    # VALUES: 0 chunked, 1 close, 3 text/plain, 6 "x-trailer, x-other", 9 "a\r\nb".
    cl5 = (0, 0x80, b"\x05")
    return {
        "plain": b"\x00" + _response(headers=((3, 3, b""),)),
        "content-length": b"\x00" + _response(headers=(cl5,)),
        "content-length-short": b"\x00" + _response(headers=((0, 0x80, b"\x09"),)),
        "streamed": b"\x00"
        + _response(bodies=((b"abc", True, False), (b"", True, True), (b"de", False, True))),
        "streamed-http10": b"\x00"
        + _response(version10=True, bodies=((b"ab", True, False), (b"c", False, False))),
        "head": b"\x00" + _response(method=1, headers=(cl5,)),
        "no-content": b"\x00" + _response(status=1),
        "not-modified": b"\x00" + _response(status=2, bodies=((b"x", False, True),)),
        "trailers": b"\x00"
        + _response(
            trailers=True,
            headers=((4, 6, b""),),
            trailer_fields=((0, 3), (1, 2)),
            bodies=((b"abc", True, False), (b"", False, False)),
        ),
        "te-chunked": b"\x00" + _response(headers=((1, 0, b""),)),
        "connection-close": b"\x00" + _response(close=True, headers=((2, 1, b""),)),
        "injection": b"\x00" + _response(headers=((3, 9, b""),)),
        "early-hint": b"\x00" + _response(hint=1),
        "reset": b"\x00" + _response(reset=True),
        "external": b"\x00" + _response(bodies=((b"file body", False, True),)),
        "keep-alive-three": b"\x01" + _response() + _response(method=2) + _response(version10=True),
        "default-header": b"\x02\x06x-dflt\x01v" + _response(),
        "bad-default-header": b"\x02\x04bad:\x01v" + _response(),
    }


MASK = b"\x37\xfa\x21\x3d"


def frame_parser() -> dict[str, bytes]:
    deflated = zlib.compressobj(wbits=-15)
    hello = deflated.compress(b"Hello") + deflated.flush(zlib.Z_SYNC_FLUSH)
    raw = {
        "text": _frame(True, 1, b"Hello", MASK),
        "binary-126": _frame(True, 2, bytes(range(200)), MASK),
        "fragments-with-ping": _frame(False, 1, b"Hel", MASK)
        + _frame(True, 9, b"p", MASK)
        + _frame(True, 0, b"lo", MASK),
        "utf8-split": _frame(False, 1, "é€".encode()[:3], MASK)
        + _frame(True, 0, "é€".encode()[3:], MASK),
        "bad-utf8": _frame(True, 1, b"\xed\xa0\x80", MASK),
        "close-1000": _frame(True, 8, b"\x03\xe8bye", MASK),
        "close-empty": _frame(True, 8, b"", MASK),
        "close-one-byte": _frame(True, 8, b"\x03", MASK),
        "close-1005": _frame(True, 8, b"\x03\xed", MASK),
        "close-bad-reason": _frame(True, 8, b"\x03\xe8\xff", MASK),
        "pong": _frame(True, 10, b"pong", MASK),
        "unmasked": b"\x81\x05Hello",
        "reserved-opcode": _frame(True, 3, b"", MASK),
        "non-minimal": b"\x82\xfe\x00\x05" + MASK + b"abcde",
        "top-bit": b"\x82\xff\x80" + bytes(7) + MASK,
        "continuation-first": _frame(True, 0, b"x", MASK),
        "ctrl-too-long": _frame(True, 9, bytes(126), MASK),
        # RSV1: only with deflate (opts & 16).
        "deflate-hello": b"\xc1" + _frame(True, 1, hello[:-4], MASK)[1:],
    }
    seeds = {}
    for i, (name, wire) in enumerate(raw.items()):
        opts = (16 if name.startswith("deflate") else 0) | (i % 4) << 2
        seeds[name] = bytes([opts, 8 | (i % 8), i, 0]) + wire
    # Structured: messages described by the bytes, encoded by the harness (opts & 32).
    seeds["structured"] = (
        bytes([32, 3, 1, 0, 4])
        + bytes([6, *MASK, 5])
        + b"hello"
        + bytes([2 | 0x80, *MASK, 10])
        + b"0123456789\x03\x07"
        + bytes([0, *MASK, 0, 1, 1, 3, 1])
    )
    return seeds


def helpers() -> dict[str, bytes]:
    spans = {
        0: [b"GET / HTTP/1.1", b"Content-Type: text/html; charset=utf-8", b"x" * 70 + b"\x7f"],
        1: [b"Host: a\r\nAccept: */*\r\n\r\n" * 3, b"v" * 64 + b"\r\n" + b"w" * 64 + b"\x00"],
        2: [b"7fffffffffffffff", b"8000000000000000", b"123456789012345678", b"0", b"fF"],
        3: [b"/a%20b%zz%4", b"%e2%82%ac%", b"%%41"],
        4: [b"example.com:8080", b"[::1]:80", b"[v1.x]", b"a b", b"host:", b"[]", b""],
        5: [b"Content-Length", b"TRANSFER-ENCODING", b"x-forwarded-for", b"Host", b"hosts"],
        6: [b"GET / HTTP/1.1\r", b"GET /\x00 HTTP/1.1", b"GET\r/ HTTP/1.1"],
        7: [b"MiXeD-Case-Name", bytes(range(256))],
    }
    return {
        f"sel{sel}-{i}": bytes([sel, len(span) // 3 & 0xFF]) + span
        for sel, values in spans.items()
        for i, span in enumerate(values)
    }


def ws() -> dict[str, bytes]:
    frames = [
        _frame(True, 1, b"Hello", MASK),
        b"\x82\xfe\x00\x80" + MASK,
        b"\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00" + MASK,
    ]
    texts = [
        "héllo wörld €𝄞".encode(),
        b"\xed\xa0\x80",
        b"\xf4\x90\x80\x80",
        b"\xc0\xaf",
        b"\xe0\x80\x80",
        b"abc\xe2\x82",
        "𝄞".encode() * 20,
    ]
    seeds = {}
    for i, f in enumerate(frames):
        seeds[f"header-{i}"] = bytes([0 | (i << 3)]) + f
    seeds["unmask-0"] = bytes([1]) + MASK + bytes(range(100))
    seeds["unmask-offset"] = bytes([1 | 4 * 3]) + MASK + b"\x80" * 37
    for i, t in enumerate(texts):
        seeds[f"utf8-{i}"] = bytes([2]) + t
    return seeds


HARNESSES = {
    "request_parser": request_parser,
    "response_writer": response_writer,
    "frame_parser": frame_parser,
    "helpers": helpers,
    "ws": ws,
}


def main() -> None:
    for harness, make in HARNESSES.items():
        folder = OUT / harness
        folder.mkdir(parents=True, exist_ok=True)
        seeds = make()
        for old in folder.iterdir():
            if old.is_file() and old.name not in seeds:
                old.unlink()
        for name, data in seeds.items():
            (folder / name).write_bytes(data)
        print(f"{harness}: {len(seeds)} seeds, {sum(map(len, seeds.values()))} bytes")


if __name__ == "__main__":
    main()

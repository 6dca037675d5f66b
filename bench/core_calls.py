"""The four hot calls of the compiled core in a loop, for callgrind (bench/RESULTS.md).

One round: RequestParser.feed of a 4-field GET, ResponseWriter.start and body of a 13-byte
response (with the date line), FrameParser.feed of a 5-byte masked text frame. Run it twice
under `valgrind --tool=callgrind` with two round counts and divide the difference in total
instructions by the difference in rounds: what one round costs, without start-up.

    PYTHONHASHSEED=0 PYTHONPATH=src SAILFISH_REQUIRE_EXTENSIONS=1 valgrind --tool=callgrind \\
        python bench/core_calls.py 12000
"""

from __future__ import annotations

import sys

from sailfish._http import FrameParser, RequestParser, ResponseWriter

REQUEST = b"GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain")],
}
BODY = {"type": "http.response.body", "body": b"Hello, world!"}
MASK = b"\x01\x02\x03\x04"
FRAME = b"\x81\x85" + MASK + bytes(c ^ MASK[i % 4] for i, c in enumerate(b"hello"))


def main(rounds: int) -> None:
    parser, writer, frames = RequestParser(), ResponseWriter(), FrameParser()
    for _ in range(rounds):
        parser.feed(REQUEST)
        writer.start(START, "GET", "1.1", True)
        writer.body(BODY)
        frames.feed(FRAME)


if __name__ == "__main__":
    main(int(sys.argv[1]))

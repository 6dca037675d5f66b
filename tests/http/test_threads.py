"""The core from many threads at once, once per twin: each thread with its own objects, or all
sharing one.

Strategy: on free-threaded CPython (3.14t) the threads run in parallel; with the GIL a switch
interval of a microsecond makes them switch between (and, in the pure twin, inside) calls, so
the same tests check correctness under thread switching there. Each worker drives its own
RequestParser, ResponseWriter, FrameParser and FrameWriter (sharing a permessage-deflate
Deflate, as a connection's do) and build_environ over seeded random valid input split at random
points, and checks each result against what it built (not against another parser). The writers
of all threads share the module's date line (one per thread without the GIL) and the environ
key cache is filled by all threads at once. One parser or writer used by two threads at once
must give each call its correct result or ConcurrentUseError (compiled twin; the pure twin does
not check, docs/core.md "Threads"), and never crash the process. Sizes are small: the whole file
takes a few seconds per twin.
"""

from __future__ import annotations

import email.utils
import importlib
import os
import random
import re
import struct
import subprocess
import sys
import sysconfig
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any
from urllib.parse import unquote

import pytest

from sailfish.errors import ConcurrentUseError, ResponseError
from twins import load_twin
from wsutil import client_frame, normalise

THREADS = 8
ROUNDS = 120  # requests (responses, messages) per thread and test
MASKS = [bytes(random.Random(i).randbytes(4)) for i in range(4)]
DATE = re.compile(
    rb"date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d "
    rb"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT\r\n"
)


@contextmanager
def switching() -> Iterator[None]:
    """With the GIL, switch threads as often as the interpreter allows while the test runs."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def run_threads(work: Callable[[int], None], threads: int = THREADS) -> None:
    """Run work(0) .. work(threads - 1) in threads started together; re-raise the first error."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def main(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:  # reported below, with the thread's seed in it
            errors.append(exc)

    with switching():
        pool = [threading.Thread(target=main, args=(i,)) for i in range(threads)]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    if errors:
        raise errors[0]


def pieces(rng: random.Random, data: bytes) -> list[bytes]:
    """`data` cut at random points (sometimes whole, sometimes byte by byte near a cut)."""
    out, i = [], 0
    while i < len(data):
        n = rng.choice((1, 2, 7, 64, 300, len(data)))
        out.append(data[i : i + n])
        i += n
    return out


# -- HTTP/1.1 requests -------------------------------------------------------------------------


def random_request(rng: random.Random, n: int) -> tuple[bytes, dict[str, Any]]:
    """One valid keep-alive HTTP/1.1 request and what the parser must make of it."""
    method = rng.choice(("GET", "POST", "PUT", "DELETE", "PATCH"))
    raw_path = "/" + "/".join(
        rng.choice(("a", "b%41", "c%20d", "x" * rng.randint(1, 30))) for _ in range(3)
    )
    query = rng.choice(("", f"q={n}&r={rng.random()}"))
    fields = [(b"Host", b"example.com")]
    fields += [(b"X-Field-%d" % j, b"v%d-%d" % (n, rng.randint(0, 10**9))) for j in range(4)]
    body = rng.randbytes(rng.choice((0, 0, 1, 100, 5000)))
    chunked = bool(body) and rng.random() < 0.5
    if chunked:
        fields.append((b"Transfer-Encoding", b"chunked"))
        framed, i = b"", 0
        while i < len(body):
            size = rng.randint(1, 2000)
            framed += b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
            i += size
        framed += b"0\r\n\r\n"
    else:
        if body or method in ("POST", "PUT"):
            fields.append((b"Content-Length", b"%d" % len(body)))
        framed = body
    target = raw_path + ("?" + query if query else "")
    head = b"%s %s HTTP/1.1\r\n" % (method.encode(), target.encode())
    head += b"".join(b"%s: %s\r\n" % pair for pair in fields) + b"\r\n"
    expected = {
        "method": method,
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "headers": [(name.lower(), value) for name, value in fields],
        "has_body": bool(body),
        "body": body,
    }
    return head + framed, expected


def received(events: list[Any]) -> list[dict[str, Any]]:
    """Requests and their bodies as the parser returned them (body messages joined)."""
    out: list[dict[str, Any]] = []
    for event in events:
        if isinstance(event, dict):
            assert event["type"] == "http.request" and out and out[-1]["has_body"]
            assert not out[-1]["done"], "body message after the last one"
            out[-1]["body"] += event["body"]
            out[-1]["done"] = not event["more_body"]
            continue
        assert not isinstance(event, Exception), event
        s = event.scope
        out.append(
            {
                "method": s["method"],
                "path": s["path"],
                "raw_path": s["raw_path"],
                "query_string": s["query_string"],
                "headers": s["headers"],
                "has_body": event.has_body,
                "body": b"",
                "done": not event.has_body,
            }
        )
        assert event.keep_alive and event.upgrade is None
    return out


def environ_twin(twin: SimpleNamespace) -> Any:
    name = "sailfish._http" if twin.name == "c" else "sailfish.wsgi.environ"
    return importlib.import_module(name).build_environ


def test_parsers_and_environ_per_thread(twin: SimpleNamespace) -> None:
    """Each thread: one parser, a pipelined stream of random requests in random pieces; each
    request's environ, whose HTTP_* names (new ones per thread) fill the shared key cache."""
    build_environ = environ_twin(twin)

    def work(i: int) -> None:
        rng = random.Random(1000 + i)
        parser = twin.RequestParser(client=("127.0.0.1", 1000 + i), server=("127.0.0.1", 80))
        wanted, stream = [], b""
        for n in range(ROUNDS):
            raw, expected = random_request(rng, n)
            stream += raw
            wanted.append({**expected, "done": True})
        events: list[Any] = []
        for piece in pieces(rng, stream):
            events.extend(parser.feed(piece))
        got = received(events)
        assert got == wanted, f"thread {i} (seed {1000 + i})"
        for n, request in enumerate(got):
            scope = {
                "type": "http",
                "http_version": "1.1",
                "method": request["method"],
                "scheme": "http",
                "path": request["path"],
                "raw_path": request["raw_path"],
                "query_string": request["query_string"],
                "root_path": "",
                "headers": request["headers"] + [(b"x-t%d-%d" % (i, n), b"1")],
                "client": ("127.0.0.1", 1000 + i),
                "server": ("127.0.0.1", 80),
            }
            environ = build_environ(scope, {})
            assert environ[f"HTTP_X_T{i}_{n}"] == "1"
            assert environ["HTTP_X_FIELD_3"] == request["headers"][4][1].decode("latin-1")
            assert environ["PATH_INFO"] == request["raw_path"].decode().replace("%41", "A").replace(
                "%20", " "
            )

    run_threads(work)


# -- responses -------------------------------------------------------------------------------


def check_date(line: bytes, before: float, after: float) -> None:
    """A well-formed date line of a second between `before` and `after` (a torn copy of a line
    being rewritten would fail one or the other)."""
    assert DATE.fullmatch(line), line
    when = email.utils.parsedate_to_datetime(line[6:-2].decode()).timestamp()
    assert int(before) - 1 <= when <= after + 1, (line, before, after)


def test_writers_per_thread_share_the_date(twin: SimpleNamespace) -> None:
    """Each thread: one writer, random responses (Content-Length or chunked), checked to the
    byte; every thread's date line is well formed and current."""

    def work(i: int) -> None:
        rng = random.Random(2000 + i)
        writer = twin.ResponseWriter()
        for n in range(ROUNDS * 3):
            status = rng.choice((200, 201, 404, 500))
            body = rng.randbytes(rng.choice((0, 10, 3000)))
            parts = [body[: len(body) // 2], body[len(body) // 2 :]] if rng.random() < 0.5 else []
            fields = [(b"x-round", b"%d-%d" % (i, n))]
            before = time.time()
            writer.start({"status": status, "headers": fields}, "GET", "1.1", True)
            if parts:
                out = writer.body({"body": parts[0], "more_body": True})
                out += writer.body({"body": parts[1], "more_body": False})
            else:
                out = writer.body({"body": body, "more_body": False})
            after = time.time()
            assert writer.complete and writer.keep_alive
            status_line, server, date, rest = out.split(b"\r\n", 3)
            assert status_line == b"HTTP/1.1 %d %s" % (status, HTTPStatus(status).phrase.encode())
            assert server == b"server: sailfish"
            check_date(date + b"\r\n", before, after)
            if parts:
                framed = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts if p) + b"0\r\n\r\n"
                expected = b"x-round: %d-%d\r\ntransfer-encoding: chunked\r\n\r\n" % (i, n)
                assert rest == expected + framed, f"thread {i} round {n}"
            else:
                expected = b"x-round: %d-%d\r\ncontent-length: %d\r\n\r\n" % (i, n, len(body))
                assert rest == expected + body, f"thread {i} round {n}"

    run_threads(work)


# -- WebSocket -------------------------------------------------------------------------------


def server_frames(data: bytes, inflater: Any) -> list[tuple[Any, ...]]:
    """The messages in a FrameWriter's output (unmasked, FIN set, maybe compressed)."""
    out = []
    while data:
        first, second = data[0], data[1]
        n, pos = second & 0x7F, 2
        if n == 126:
            n, pos = struct.unpack("!H", data[2:4])[0], 4
        elif n == 127:
            n, pos = struct.unpack("!Q", data[2:10])[0], 10
        payload, data = data[pos : pos + n], data[pos + n :]
        assert first & 0x80 and not second & 0x80
        if first & 0x40:
            payload = inflater.decompress(payload + b"\x00\x00\xff\xff")
        opcode = first & 0x0F
        out.append(("text", payload.decode()) if opcode == 1 else ("bytes", payload))
    return out


def test_websocket_per_thread(twin: SimpleNamespace) -> None:
    """Each thread: a FrameParser and a FrameWriter sharing one Deflate (inflating and
    compressing at once), over random client messages (fragmented, compressed, with pings)."""

    def work(i: int) -> None:
        rng = random.Random(3000 + i)
        deflate = twin.Deflate(min_size=0)
        parser, writer = twin.FrameParser(deflate=deflate), twin.FrameWriter(deflate=deflate)
        client_z = zlib.compressobj(wbits=-15)
        client_unz = zlib.decompressobj(wbits=-15)
        stream, wanted = b"", []
        for n in range(ROUNDS):
            text = rng.random() < 0.5
            data = (
                "".join(rng.choice("aé€𝄞 x") for _ in range(rng.randint(0, 300))).encode()
                if text
                else rng.randbytes(rng.randint(0, 3000))
            )
            compressed = rng.random() < 0.5
            payload = data
            if compressed:
                payload = client_z.compress(data) + client_z.flush(zlib.Z_SYNC_FLUSH)
                payload = payload[:-4]
            cut = sorted(rng.sample(range(len(payload) + 1), min(2, len(payload) + 1)))
            parts = [payload[: cut[0]], payload[cut[0] : cut[-1]], payload[cut[-1] :]]
            for k, part in enumerate(parts):
                opcode = (0x1 if text else 0x2) if k == 0 else 0x0
                rsv = 0x4 if compressed and k == 0 else 0
                stream += client_frame(opcode, part, fin=k == 2, rsv=rsv, mask=MASKS[n % 4])
                if k == 0 and rng.random() < 0.3:
                    stream += client_frame(0x9, b"p%d" % n, mask=MASKS[0])
                    wanted.append(("ping", b"p%d" % n))
            wanted.append(("text", data.decode()) if text else ("bytes", data))
            # The writer compresses on the same Deflate while the parser inflates on it.
            message = {
                "type": "websocket.send",
                "text" if text else "bytes": (data.decode() if text else data),
            }
            assert server_frames(writer.send(message), client_unz) == [wanted[-1]]
            got = []
            for piece in pieces(rng, stream):
                got.extend(normalise(e) for e in parser.feed(piece))
            stream = b""
            assert got == wanted, f"thread {i} (seed {3000 + i}) message {n}"
            wanted = []

    run_threads(work)


# -- one object, two threads -----------------------------------------------------------------


def test_one_parser_many_threads(twin: SimpleNamespace) -> None:
    """Threads feeding whole requests to one shared parser: each call returns its own request
    or raises ConcurrentUseError (bytes not taken), and the parser is intact afterwards."""
    if twin.name == "py":
        pytest.skip("the pure twin does not detect concurrent use (docs/core.md, Threads)")
    parser = twin.RequestParser()
    refused = [0] * THREADS

    def work(i: int) -> None:
        for n in range(ROUNDS * 5):
            raw = b"GET /%d/%d HTTP/1.1\r\nHost: a\r\n\r\n" % (i, n)
            try:
                events = parser.feed(raw)
            except ConcurrentUseError:
                refused[i] += 1
                continue
            assert len(events) == 1 and events[0].scope["raw_path"] == b"/%d/%d" % (i, n)

    run_threads(work)
    events = parser.feed(b"GET /after HTTP/1.1\r\nHost: a\r\n\r\n")
    assert [e.scope["path"] for e in events] == ["/after"]
    # With the GIL a compiled feed never switches threads midway, so none is refused.
    assert sum(refused) < THREADS * ROUNDS * 5


def test_one_writer_many_threads(twin: SimpleNamespace) -> None:
    """Threads writing whole responses on one shared writer: a call is refused whole
    (ConcurrentUseError, or ResponseError while another thread's response is in progress) or
    gives exactly its own bytes; a refused body is simply tried again."""
    if twin.name == "py":
        pytest.skip("the pure twin does not detect concurrent use (docs/core.md, Threads)")
    writer = twin.ResponseWriter(date_header=False)

    def work(i: int) -> None:
        for n in range(ROUNDS * 5):
            try:
                writer.start({"status": 200, "headers": []}, "GET", "1.1", True)
            except (ConcurrentUseError, ResponseError):
                continue
            body = b"%d-%d" % (i, n)
            while True:
                try:
                    out = writer.body({"body": body})
                    break
                except ConcurrentUseError:
                    pass  # another thread's start was inside: it changed nothing
            assert out == b"HTTP/1.1 200 OK\r\nserver: sailfish\r\ncontent-length: %d\r\n\r\n%s" % (
                len(body),
                body,
            )

    run_threads(work)
    assert writer.complete
    writer.start({"status": 204, "headers": []}, "GET", "1.1", True)
    assert writer.body({"body": b""}) == b"HTTP/1.1 204 No Content\r\nserver: sailfish\r\n\r\n"


def test_reentry_is_refused(twin: SimpleNamespace) -> None:
    """A call that re-enters its own object from a callback (here the message's `get`) gets
    ConcurrentUseError, and the outer call goes on unharmed: the check that guards threads."""
    if twin.name == "py":
        pytest.skip("the pure twin does not detect concurrent use (docs/core.md, Threads)")
    writer = twin.ResponseWriter(date_header=False)
    seen: list[BaseException] = []

    class Message(dict):  # type: ignore[type-arg]
        def get(self, key: Any, default: Any = None) -> Any:
            try:
                writer.reset()
            except ConcurrentUseError as exc:
                seen.append(exc)
            return super().get(key, default)

    writer.start(Message(status=200, headers=[]), "GET", "1.1", True)
    # status, headers, reason, trailers
    assert len(seen) == 4 and "ResponseWriter" in str(seen[0])
    assert writer.body({"body": b"ok"}).endswith(b"content-length: 2\r\n\r\nok")


@pytest.mark.skipif(sys.version_info < (3, 12), reason="Python-level __buffer__ is 3.12+")
def test_parser_reentry_is_refused(twin: SimpleNamespace) -> None:
    """The parsers take any buffer: one whose __buffer__ feeds the same parser is refused."""
    if twin.name == "py":
        pytest.skip("the pure twin does not detect concurrent use (docs/core.md, Threads)")
    for parser, data in (
        (twin.RequestParser(), b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        (twin.FrameParser(), client_frame(0x1, b"hi")),
    ):
        seen: list[BaseException] = []

        class Evil:
            def __init__(self, parser: Any, data: bytes, seen: list[BaseException]) -> None:
                self.parser, self.data, self.seen = parser, data, seen

            def __buffer__(self, flags: int) -> memoryview:
                try:
                    self.parser.feed(b"")
                except ConcurrentUseError as exc:
                    self.seen.append(exc)
                return memoryview(self.data)

        assert len(parser.feed(Evil(parser, data, seen))) == 1
        assert len(seen) == 1


@pytest.mark.skipif(
    not sysconfig.get_config_var("Py_GIL_DISABLED"), reason="a free-threaded build (3.14t) only"
)
def test_compiled_modules_keep_the_gil_off() -> None:
    """Importing the compiled core and shell leaves the GIL off: they declare that they can run
    without it (a module that does not makes the interpreter turn the GIL on, with a warning)."""
    load_twin("c")  # skips under SAILFISH_NO_EXTENSIONS=1
    code = (
        "import importlib.util, sys, sailfish._http\n"
        "shell = [f'sailfish._shell.{m}' for m in ('deadlines', 'base', 'http1', 'websocket',"
        " 'wsgi')]\n"
        "for name in shell:\n"
        "    if importlib.util.find_spec(name) is not None:\n"
        "        importlib.import_module(name)\n"
        "print(sys._is_gil_enabled())\n"
    )
    # Without PYTHON_GIL (which may force the GIL off for the whole test run): the
    # interpreter's own choice, which a module without the declaration would turn on.
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"

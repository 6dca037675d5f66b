"""The oracles of the fuzz harnesses over the core: one function per harness, bytes in.

Strategy: each target takes the fuzzer's bytes, drives one part of the core through its public
API and raises `AssertionError` when an oracle fails; any exception a target does not expect
counts as a crash too. The compiled core is the default (`fuzz/driver.c` embeds CPython and
calls these per input, the module built with sanitizers and coverage); `core` may be the pure
twin, which must satisfy the same oracles (`tests/fuzz/test_libfuzzer_replay.py` replays the
seeds and the regressions through both). The first bytes of an input are settings (limits,
split points, buffer kinds); the rest is the wire. Outcomes are compared, never messages.

- `request_parser`: the same bytes fed whole and in pieces whose sizes come from the input
  give the same requests, merged body and error class; every call keeps the per-call contract
  of docs/core.md; pieces are handed over as bytes, bytearray or memoryview and clobbered after
  `feed` returns, so a parser that kept a pointer into the caller's buffer gives another answer
  (or a use-after-free under ASan).
- `response_writer`: messages chosen by the input go through two writers in lockstep, one using
  `body`, the other `frame_external` where the input says so: outputs must be byte-identical and
  errors the same class. The bytes are then read back as a client would (status line, field
  lines, framing per RFC 9112 §6.3): no CR/LF/NUL outside line ends, the body decodes to what
  the app sent, nothing is left over, and a close-delimited body means `keep_alive` is False.
- `frame_parser`: WebSocket client bytes fed whole and split give the same events; close codes,
  message types and sizes keep docs/websocket.md; with `structured` inputs, messages encoded
  here (masked, fragmented, control frames interleaved) come back exactly.
"""

from __future__ import annotations

import http
import importlib
import re
from types import SimpleNamespace
from typing import Any

from sailfish import errors

TCHAR = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
HEX = re.compile(rb"[0-9A-Fa-f]+\Z")
CLOSE_CODES = {*range(1000, 1004), *range(1007, 1015), *range(3000, 5000)}


_CORES: dict[str, Any] = {}


def _core(twin: str) -> Any:
    """The compiled core ("c"), or the pure twin's modules gathered under the same names."""
    core = _CORES.get(twin)
    if core is None:
        if twin == "c":
            core = importlib.import_module("sailfish._http")
        else:
            core = SimpleNamespace()
            for module in ("sailfish.http.parser", "sailfish.http.writer", "sailfish.ws.frames"):
                vars(core).update(vars(importlib.import_module(module)))
            core.Deflate = importlib.import_module("sailfish.ws.deflate").Deflate
        _CORES[twin] = core
    return core


class Source:
    """Reads settings from the front of a fuzz input (zeros once it runs out)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        self.pos += 1
        return self.data[self.pos - 1]

    def take(self, n: int) -> bytes:
        out = self.data[self.pos : self.pos + n]
        self.pos += len(out)
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out


def split(data: bytes, seed: int, maxlog: int) -> list[bytes]:
    """Cut data into pieces of 1 to 2**maxlog bytes, sizes from a xorshift seeded by seed."""
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1
    pieces = []
    i = 0
    while i < len(data):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        size = 1 + x % (1 << maxlog)
        pieces.append(data[i : i + size])
        i += size
    return pieces


def handed(piece: bytes, kind: int) -> Any:
    """The piece as the caller hands it over: bytes, bytearray or a memoryview into a larger
    buffer (kind 0-3)."""
    if kind == 1:
        return bytearray(piece)
    if kind == 2:
        return memoryview(b"\x00" + piece + b"\xff")[1:-1]
    if kind == 3:
        return memoryview(bytearray(piece))
    return bytes(piece)


def clobber(buf: Any) -> None:
    """Overwrite a mutable buffer after feed() returned: the parser must not look at it again."""
    if isinstance(buf, bytearray):
        buf[:] = b"\xff" * len(buf)
    elif isinstance(buf, memoryview) and not buf.readonly:
        buf[:] = b"\xff" * len(buf)
        buf.release()


# -- request parser ------------------------------------------------------------------------------


def _check_request(req: Any) -> None:
    """Scope fields a valid parse can never produce otherwise."""
    scope = req.scope
    assert scope["type"] == "http"
    assert scope["http_version"] in ("1.0", "1.1"), scope["http_version"]
    assert TCHAR.match(scope["method"].encode("latin-1")), scope["method"]
    for name, value in scope["headers"]:
        assert type(name) is bytes and type(value) is bytes
        assert TCHAR.match(name) and name == name.lower(), name
        assert not BAD_VALUE.search(value), value
        assert value == value.strip(b" \t"), value
    assert type(scope["raw_path"]) is bytes and type(scope["query_string"]) is bytes
    assert not re.search(rb"[\x00-\x20\x7f-\xff]", scope["raw_path"] + scope["query_string"])
    assert isinstance(req.keep_alive, bool) and isinstance(req.has_body, bool)


class _Stream:
    """Per-call and across-call checks of one parser's events; the normalised outcome."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.body_open = False
        self.body: list[bytes] = []
        self.finished = False

    def call(self, events: list[Any], core: Any) -> None:
        errors = _errors()
        assert type(events) is list
        if self.finished:
            assert events == [], events
            return
        bodies_this_call = 0
        for i, event in enumerate(events):
            if isinstance(event, errors.HTTPError):
                assert i == len(events) - 1, "an error must be the last event"
                self._flush()
                self.events.append(("error", type(event).__name__, event.status))
                self.finished = True
            elif isinstance(event, core.Request):
                assert not self.body_open, "a request head inside the previous body"
                self._flush()
                _check_request(event)
                self.events.append(("request", event))
                self.body_open = event.has_body
                bodies_this_call = 0
            else:
                assert type(event) is dict and event.keys() == {"type", "body", "more_body"}
                assert event["type"] == "http.request" and type(event["body"]) is bytes
                assert type(event["more_body"]) is bool
                assert self.body_open, "a body message for a request without a body"
                bodies_this_call += 1
                assert bodies_this_call == 1, "one body message per request per call"
                assert event["body"] or not event["more_body"], "an empty non-final message"
                self.body.append(event["body"])
                if not event["more_body"]:
                    self.body_open = False
                    self._flush(ended=True)

    def _flush(self, ended: bool = False) -> None:
        if self.body or ended:
            self.events.append(("body", b"".join(self.body), ended))
            self.body = []


def _errors() -> Any:
    return errors


Outcome = tuple[list[tuple[Any, ...]], "bytes | None", bool]


def _parse(
    core: Any, limits: dict[str, Any], pieces: list[bytes], kind: int, accept: bool
) -> Outcome:
    """Feed the pieces to a new parser: (normalised events, bytes after an accepted upgrade,
    finished by an error)."""
    parser = core.RequestParser(client=("127.0.0.1", 5000), server=("127.0.0.1", 80), **limits)
    stream = _Stream()
    rest: list[bytes] | None = None
    for piece in pieces:
        if rest is not None:
            rest.append(piece)
            continue
        buf = handed(piece, kind)
        events = parser.feed(buf)
        clobber(buf)
        del buf
        stream.call(events, core)
        # After an upgrade head the parser pauses: accept it (take what is buffered) or
        # decline it (feed(b"") goes on parsing) as the shell would.
        rounds = 0
        while events and isinstance(events[-1], core.Request) and events[-1].upgrade is not None:
            if accept:
                rest = [parser.unparsed()]
                break
            events = parser.feed(b"")
            stream.call(events, core)
            rounds += 1
            assert rounds <= len(b"".join(pieces)) + 1, "feed(b'') makes no progress"
    stream._flush()
    tail = b"".join(rest) if rest is not None else None
    return stream.events, tail, stream.finished


LIMITS = [
    {},
    {
        "max_request_line": 40,
        "max_header_size": 128,
        "max_headers": 4,
        "max_chunk_ext_size": 8,
        "max_trailer_size": 24,
    },
    {"max_body_size": 16},
    {"max_request_line": 0, "max_header_size": 0, "max_headers": 0, "max_body_size": 0},
]


def request_parser(data: bytes, twin: str = "c") -> None:
    """Whole vs split: the same events (merged bodies), the same error class, the same tail."""
    core = _core(twin)
    src = Source(data)
    opts, sizes, seed = src.byte(), src.byte(), src.byte() | src.byte() << 8
    wire = src.rest()
    limits = LIMITS[opts & 3]
    kind = (opts >> 2) & 3
    accept = bool(opts & 16)
    whole = _parse(core, limits, [wire] if wire else [], 0, accept)
    pieces = split(wire, seed, sizes & 7)
    parts = _parse(core, limits, pieces, kind, accept)
    assert whole == parts, (whole, parts)
    # Byte by byte too, for short inputs (every split point at once).
    if len(wire) <= 64 and sizes & 8:
        single = _parse(core, limits, [wire[i : i + 1] for i in range(len(wire))], kind, accept)
        assert whole == single, (whole, single)


# -- response writer -----------------------------------------------------------------------------

METHODS = ["GET", "HEAD", "POST", "GET", "OPTIONS", "CONNECT", "PUT", "GET"]
STATUSES = [200, 204, 304, 404, 101, 103, 100, 500, 599, 299, 600, 99, 0, 200, 201, 206]
NAMES = [
    b"content-length",
    b"transfer-encoding",
    b"connection",
    b"content-type",
    b"trailer",
    b"server",
    b"date",
    b"x-custom",
    b"Content-Length",
    b"TRANSFER-ENCODING",
    b"set-cookie",
    b"keep-alive",
]
VALUES = [
    b"chunked",
    b"close",
    b"keep-alive",
    b"text/plain",
    b"Chunked",
    b"gzip, chunked",
    b"x-trailer, x-other",
    b"",
    b" padded ",
    b"a\r\nb",
    b"\x00",
    b"caf\xc3\xa9",
]
TRAILER_NAMES = [b"x-trailer", b"x-other", b"content-length", b"Trailer", b"x-\xff", b"x"]


def _valid_field(name: bytes, value: bytes) -> bool:
    return bool(TCHAR.match(name)) and not BAD_VALUE.search(value)


class _Lockstep:
    """Two writers fed the same messages; the second frames some bodies with frame_external."""

    def __init__(self, core: Any, kwargs: dict[str, Any]) -> None:
        self.a = core.ResponseWriter(**kwargs)
        self.b = core.ResponseWriter(**kwargs)
        self.error = _errors().ResponseError
        self.head_request = False

    def call(self, op: str, *args: Any, external: bool = False) -> Any:
        """Both writers' result (bytes, or None for start/reset); _Stop on a ResponseError."""
        got = []
        for w, ext in ((self.a, False), (self.b, external)):
            try:
                if op == "body" and ext:
                    message = args[0]
                    content = bytes(message.get("body", b""))
                    before, after, write = w.frame_external(
                        len(content), message.get("more_body", False)
                    )
                    assert type(before) is bytes and type(after) is bytes
                    assert write == (bool(content) and write), "write for an empty body"
                    out: Any = before + (content if write else b"") + after
                else:
                    out = getattr(w, op)(*args)
                got.append(("ok", out))
            except self.error as exc:
                got.append(("error", type(exc)))
        if op == "start":
            self.head_request = args[1] == "HEAD"
        elif op == "body" and external and self.head_request and got[0] != got[1]:
            # A file answering HEAD gets the Content-Length GET's answer gets, an app's body
            # none (RFC 9110 §9.3.2; docs/core.md): the one line the two may differ by.
            line = b"content-length: %d\r\n" % len(bytes(args[0].get("body", b"")))
            if got[1][0] == "ok" and not args[0].get("more_body", False):
                got[1] = ("ok", got[1][1].replace(line, b"", 1))
        assert got[0] == got[1], (op, args, got)
        assert self.a.keep_alive == self.b.keep_alive
        assert self.a.started == self.b.started and self.a.complete == self.b.complete
        if got[0][0] == "error":
            raise _Stop
        return got[0][1]


class _Stop(Exception):
    """The writer refused a message (a clean ResponseError): this response ends here."""


def _read_head(out: bytes, pos: int) -> tuple[int, list[tuple[bytes, bytes]], int]:
    """Read a response head at pos: (status, fields, position after the empty line)."""
    end = out.index(b"\r\n\r\n", pos)
    lines = out[pos:end].split(b"\r\n")
    m = re.match(rb"HTTP/1\.1 (\d{3}) ([\x20-\x7e]*)\Z", lines[0])
    assert m, lines[0]
    status = int(m.group(1))
    try:
        phrase = http.HTTPStatus(status).phrase.encode()
    except ValueError:
        phrase = b""
    assert m.group(2) == phrase, (status, m.group(2))
    fields = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        assert sep and TCHAR.match(name), line
        assert not BAD_VALUE.search(value) and b"\r" not in value, line
        fields.append((name.lower(), value.strip(b" \t")))
    return status, fields, end + 4


def _read_response(
    out: bytes, method: str, sent_body: bytes, trailers: list[tuple[bytes, bytes]] | None
) -> bool:
    """Read one whole response as a client would; returns whether it is close-delimited."""
    status, fields, pos = _read_head(out, 0)
    names = [n for n, _ in fields]
    if method == "HEAD" or status < 200 or status in (204, 304):
        assert out[pos:] == b"", "bytes after a response without content"
        return False
    if method == "CONNECT" and status < 300:
        # A 2xx to CONNECT would start a tunnel (RFC 9110 §9.3.6): no framing fields, no
        # content, and the connection closes (sailfish serves no tunnels).
        assert not {b"content-length", b"transfer-encoding"} & set(names), fields
        assert out[pos:] == b"", "bytes after a 2xx to CONNECT"
        return True
    te = [v for n, v in fields if n == b"transfer-encoding"]
    if te:
        assert b"content-length" not in names, "Content-Length with Transfer-Encoding"
        assert te[-1].lower() == b"chunked", te
        body = []
        while True:
            lf = out.index(b"\r\n", pos)
            size_line = out[pos:lf]
            assert HEX.match(size_line), size_line
            size = int(size_line, 16)
            pos = lf + 2
            if size == 0:
                break
            body.append(out[pos : pos + size])
            assert out[pos + size : pos + size + 2] == b"\r\n", "no CRLF after chunk data"
            pos += size + 2
        got_trailers = []
        while not out.startswith(b"\r\n", pos):
            lf = out.index(b"\r\n", pos)
            name, sep, value = out[pos:lf].partition(b":")
            assert sep and TCHAR.match(name) and not BAD_VALUE.search(value), out[pos:lf]
            got_trailers.append((name, value.strip(b" \t")))
            pos = lf + 2
        pos += 2
        assert b"".join(body) == sent_body, "chunked body differs"
        if trailers is not None:
            want = [(n, v.strip(b" \t")) for n, v in trailers]
            assert got_trailers == want, (got_trailers, want)
        else:
            assert got_trailers == []
        assert out[pos:] == b"", "bytes after the last chunk"
        return False
    cl = [v for n, v in fields if n == b"content-length"]
    if cl:
        assert len(set(cl)) == 1 and cl[0].isdigit(), cl
        assert out[pos:] == sent_body, "Content-Length body differs"
        assert int(cl[0]) == len(sent_body)
        return False
    assert out[pos:] == sent_body, "close-delimited body differs"
    return True


def response_writer(data: bytes, twin: str = "c") -> None:
    """Lockstep body/frame_external, then read the bytes back as a client."""
    core = _core(twin)
    src = Source(data)
    opts = src.byte()
    kwargs: dict[str, Any] = {"date_header": False}
    if opts & 1:
        kwargs["server_header"] = None
    if opts & 2:
        name, value = src.take(src.byte() % 8), src.take(src.byte() % 8)
        kwargs["default_headers"] = [(name, value)]
        try:
            core.ResponseWriter(**kwargs)
        except ValueError:
            assert not _valid_field(name, value), "a valid default header was refused"
            return
        assert _valid_field(name, value), "an invalid default header was accepted"
    w = _Lockstep(core, kwargs)
    for _ in range(3):
        if not _one_response(core, src, w):
            return


def _one_response(core: Any, src: Source, w: _Lockstep) -> bool:
    """One response through the writers; False once the connection cannot go on."""
    b = src.byte()
    method = METHODS[b & 7]
    version = "1.0" if b & 8 else "1.1"
    keep_alive = not b & 16
    announce = bool(b & 32)
    status = STATUSES[src.byte() % len(STATUSES)]
    headers = []
    for _ in range(src.byte() % 5):
        n, v = src.byte(), src.byte()
        name = NAMES[n % len(NAMES)] if n < 200 else src.take(n % 6)
        value = VALUES[v % len(VALUES)] if v < 180 else src.take(v % 8)
        if v & 0x80 and name.lower() == b"content-length":
            value = str(src.byte() % 40).encode()
        headers.append((name, value))
    bodies = []
    for _ in range(1 + src.byte() % 4):
        k = src.byte()
        bodies.append((src.take(k % 24), bool(k & 0x40), bool(k & 0x80)))
    trailer_fields = [
        (TRAILER_NAMES[src.byte() % len(TRAILER_NAMES)], VALUES[src.byte() % len(VALUES)])
        for _ in range(src.byte() % 3)
    ]
    out = b""
    try:
        if src.byte() & 1:
            links = [b"</a.css>; rel=preload", VALUES[src.byte() % len(VALUES)]][: src.byte() % 3]
            hint = w.call(
                "early_hint", {"type": "http.response.early_hint", "links": links}, version
            )
            assert hint is not None
            if hint:
                status_103, fields, end = _read_head(hint, 0)
                assert status_103 == 103 and end == len(hint)
                assert [v for _, v in fields] == [v.strip(b" \t") for v in links]
        start = {"type": "http.response.start", "status": status, "headers": headers}
        if announce:
            start["trailers"] = True
        w.call("start", start, method, version, keep_alive)
        if src.byte() & 3 == 3:
            w.call("reset")
            w.call("start", start, method, version, keep_alive)
        sent = []
        for content, more, external in bodies:
            message = {"type": "http.response.body", "body": content, "more_body": more}
            out += w.call("body", message, external=external)
            sent.append(content)
            if not more:
                break
        else:
            return False  # the body never ended: nothing more to read back
        sent_trailers = None
        if announce:
            message = {"type": "http.response.trailers", "headers": trailer_fields}
            out += w.call("trailers", message)
            sent_trailers = trailer_fields
    except _Stop:
        return False
    assert w.a.complete and not w.a.started
    chunked_with_trailers = announce and version == "1.1"
    close = _read_response(
        out, method, b"".join(sent), sent_trailers if chunked_with_trailers else None
    )
    if close:
        assert not w.a.keep_alive, "a close-delimited body on a kept-alive connection"
    if not keep_alive:
        assert not w.a.keep_alive
    return bool(w.a.keep_alive)


# -- WebSocket frame parser ----------------------------------------------------------------------


def _canonical(events: list[Any], deflate: bool) -> list[Any]:
    """`events` with 1002 and 1009 made one where messages may be compressed: a compressed
    message both over the limit and corrupt further on fails with either, depending on where
    the input was cut (zlib drops the output of a failing call; docs/websocket.md)."""
    if deflate and events and events[-1] in (("error", 1002), ("error", 1009)):
        return [*events[:-1], ("error", "1002 or 1009")]
    return events


def _frames(core: Any, pieces: list[bytes], kind: int, limit: int, deflate: bool) -> list[Any]:
    """Feed the pieces to a new frame parser; its events, checked one by one."""
    d = core.Deflate() if deflate else None
    parser = core.FrameParser(max_message_size=limit, deflate=d)
    errors = _errors()
    events: list[Any] = []
    done = False
    for piece in pieces:
        buf = handed(piece, kind)
        got = parser.feed(buf)
        clobber(buf)
        del buf
        assert type(got) is list
        if done:
            assert got == []
            continue
        for i, event in enumerate(got):
            if isinstance(event, errors.WebSocketError):
                assert i == len(got) - 1 and event.code in (1002, 1007, 1009), event
                events.append(("error", event.code))
                done = True
            elif isinstance(event, core.Close):
                assert i == len(got) - 1
                assert event.code in CLOSE_CODES or event.code == 1005, event.code
                assert event.code != 1005 or event.reason == ""
                assert len(event.reason.encode()) <= 123
                events.append(event)
                done = True
            elif isinstance(event, (core.Ping, core.Pong)):
                assert len(event.payload) <= 125
                events.append(event)
            else:
                assert type(event) is dict and event["type"] == "websocket.receive"
                assert len(event) == 2, event
                if "text" in event:
                    assert type(event["text"]) is str
                    assert len(event["text"].encode()) <= limit
                else:
                    assert type(event["bytes"]) is bytes and len(event["bytes"]) <= limit
                events.append(event)
    return events


def _mask(payload: bytes, key: bytes) -> bytes:
    return bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def _frame(fin: bool, opcode: int, payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    head = bytes([0x80 * fin | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + key + _mask(payload, key)


def _structured(src: Source) -> tuple[bytes, list[Any]]:
    """Encode messages described by the input; return the wire and the expected events
    (before the core's own classes are known: ('ping', b) / ('text', s) / ...)."""
    wire = []
    expected: list[tuple[str, Any]] = []
    for _ in range(src.byte() % 6):
        b = src.byte()
        key = src.take(4).ljust(4, b"\x00")
        payload = src.take(src.byte())
        if b & 3 == 0:
            wire.append(_frame(True, 0x9, payload[:125], key))
            expected.append(("ping", payload[:125]))
            continue
        if b & 3 == 1:
            wire.append(_frame(True, 0xA, payload[:125], key))
            expected.append(("pong", payload[:125]))
            continue
        text = bool(b & 4)
        if text:
            payload = payload.decode("utf-8", "replace").encode()
        cuts = sorted({0, len(payload), *(x % (len(payload) + 1) for x in src.take(b >> 6))})
        parts = [payload[cuts[i] : cuts[i + 1]] for i in range(len(cuts) - 1)] or [b""]
        for i, part in enumerate(parts):
            opcode = (0x1 if text else 0x2) if i == 0 else 0x0
            wire.append(_frame(i == len(parts) - 1, opcode, part, key))
            if i == 0 and b & 8 and len(parts) > 1:
                wire.append(_frame(True, 0x9, b"in between", key))
                expected.append(("ping", b"in between"))
        expected.append(("text", payload.decode()) if text else ("bytes", payload))
    if src.byte() & 1:
        code = src.byte() % 6
        payload = [1000, 1001, 3000, 4999, 1011, 1014][code].to_bytes(2, "big") + b"bye"
        wire.append(_frame(True, 0x8, payload, b"\x01\x02\x03\x04"))
        expected.append(("close", (int.from_bytes(payload[:2], "big"), "bye")))
    return b"".join(wire), expected


def frame_parser(data: bytes, twin: str = "c") -> None:
    """Whole vs split give the same events; structured inputs come back exactly."""
    core = _core(twin)
    src = Source(data)
    opts, sizes, seed = src.byte(), src.byte(), src.byte() | src.byte() << 8
    limit = [16777216, 125, 0, 70000][opts & 3]
    kind = (opts >> 2) & 3
    deflate = bool(opts & 16) and not opts & 32
    expected = None
    if opts & 32:
        wire, expected = _structured(src)
    else:
        wire = src.rest()
    whole = _frames(core, [wire] if wire else [], 0, limit, deflate)
    parts = _frames(core, split(wire, seed, sizes & 7), kind, limit, deflate)
    assert _canonical(whole, deflate) == _canonical(parts, deflate), (whole, parts)
    if len(wire) <= 64 and sizes & 8:
        single = _frames(core, [wire[i : i + 1] for i in range(len(wire))], kind, limit, deflate)
        assert _canonical(whole, deflate) == _canonical(single, deflate), (whole, single)
    if expected is not None and limit == 16777216:
        want: list[Any] = []
        for what, value in expected:
            if what == "ping":
                want.append(core.Ping(value))
            elif what == "pong":
                want.append(core.Pong(value))
            elif what == "close":
                want.append(core.Close(*value))
            else:
                want.append({"type": "websocket.receive", what: value})
        assert whole == want, (whole, want)


TARGETS = {
    "request_parser": request_parser,
    "response_writer": response_writer,
    "frame_parser": frame_parser,
}

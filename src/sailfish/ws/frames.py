"""The reference (pure-Python) twin of the WebSocket frame layer: `FrameParser`, `FrameWriter`.

Strategy: the parser is a two-state machine (frame header, frame payload) over one receive
buffer. A header is judged rule by rule, in a fixed order, as soon as the bytes each rule needs
are buffered (docs/websocket.md "Frame rules"), so the events never depend on how the input was
split. Data payloads are unmasked and consumed as they arrive (never buffered whole before being
checked): text is validated as UTF-8 at each piece, compressed pieces are inflated with the
remaining message budget as their output bound. Control payloads (at most 125 bytes) are waited
for whole. The first error is returned as the last event and the parser stops. The writer builds
unmasked server frames, each as one bytes object. Written for clarity; the compiled twin
(ext/ws/frames.pxi) must produce the same events and bytes. No I/O here.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import Any, Final

from sailfish.errors import WebSocketError, WebSocketMessageError
from sailfish.ws.deflate import Deflate

__all__ = ["Close", "FrameParser", "FrameWriter", "Ping", "Pong"]

# Opcodes -- RFC 6455 §5.2; 0x3-0x7 and 0xB-0xF are reserved.
_CONTINUATION: Final = 0x0
_TEXT: Final = 0x1
_BINARY: Final = 0x2
_CLOSE: Final = 0x8
_PING: Final = 0x9
_PONG: Final = 0xA
_KNOWN_OPCODES: Final = frozenset((_CONTINUATION, _TEXT, _BINARY, _CLOSE, _PING, _PONG))

_FIN: Final = 0x80
_RSV1: Final = 0x40
_MASK: Final = 0x80

# Close codes an endpoint may put in a close frame, received or sent -- RFC 6455 §7.4.1 (1000-
# 1003, 1007-1011), the IANA registry of §11.7 (1012 Service Restart, 1013 Try Again Later,
# 1014 Bad Gateway) and §7.4.2 (3000-3999 registered, 4000-4999 private use). 1004 is reserved,
# 1005, 1006 and 1015 "MUST NOT be set as a status code in a Close control frame", and 1016-2999
# are reserved for future revisions of the protocol.
_CLOSE_CODES: Final = frozenset((1000, 1001, 1002, 1003, *range(1007, 1015)))


def _valid_close_code(code: int) -> bool:
    """A code that may appear in a close frame (RFC 6455 §7.4)."""
    return code in _CLOSE_CODES or 3000 <= code <= 4999


class Ping:
    """A ping frame from the peer; the shell answers with a pong carrying the same payload."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Ping):
            return NotImplemented
        return self.payload == other.payload

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Ping({self.payload!r})"


class Pong:
    """A pong frame from the peer (an answer to our ping, or unsolicited)."""

    __slots__ = ("payload",)

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pong):
            return NotImplemented
        return self.payload == other.payload

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Pong({self.payload!r})"


class Close:
    """The peer's close frame: `code` (1005 when the frame had no payload) and `reason`."""

    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Close):
            return NotImplemented
        return self.code == other.code and self.reason == other.reason

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Close({self.code}, {self.reason!r})"


def _unmask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    """XOR `data` with the 4-byte `mask`, starting at byte `offset` of the frame payload.

    "Octet i of the transformed data is the XOR of octet i of the original data with octet
    at index i modulo 4 of the masking key" -- RFC 6455 §5.3. One big-integer XOR: the
    fastest way pure Python has.
    """
    n = len(data)
    if not n:
        return b""
    shift = offset & 3
    if shift:
        mask = mask[shift:] + mask[:shift]
    key = (mask * ((n >> 2) + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(n, "little")


class _UTF8:
    """Incremental UTF-8 validation that fails at the first byte no valid text can continue.

    CPython's incremental decoder is exact except for one case it leaves pending: ED followed by
    A0-BF (the UTF-16 surrogates, which "MUST NOT" be encoded -- RFC 3629 §3) is only refused
    once the third byte arrives. The check after each piece closes that gap.
    """

    __slots__ = ("_decoder", "_parts")

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._parts: list[str] = []

    def feed(self, data: bytes) -> bool:
        try:
            self._parts.append(self._decoder.decode(data))
        except UnicodeDecodeError:
            return False
        pending = self._decoder.getstate()[0]
        return not (len(pending) >= 2 and pending[0] == 0xED and pending[1] >= 0xA0)

    def finish(self) -> str | None:
        try:
            self._parts.append(self._decoder.decode(b"", final=True))
        except UnicodeDecodeError:
            return None
        return "".join(self._parts)


def _fail(code: int, reason: str) -> WebSocketError:
    return WebSocketError(code, reason)


class FrameParser:
    """Sans-IO parser of client frames (server side): bytes in, messages and control events out.

    Args:
        max_message_size: the largest message, in payload bytes (after inflating); a bigger
            one fails with close code 1009 as soon as a frame header announces it.
        deflate: the connection's negotiated permessage-deflate, or None (then RSV1 is a
            protocol error).
    """

    def __init__(
        self, *, max_message_size: int = 16 * 1024 * 1024, deflate: Deflate | None = None
    ) -> None:
        if type(max_message_size) is not int or max_message_size < 0:
            raise ValueError(f"max_message_size must be an int >= 0, not {max_message_size!r}")
        if deflate is not None and not isinstance(deflate, Deflate):
            raise TypeError(f"deflate must be a Deflate or None, not {type(deflate).__name__}")
        self._max = max_message_size
        self._deflate = deflate
        # Per-connection state
        self._buffer = bytearray()
        self._done = False
        # Per-frame state (between the header and the end of its payload)
        self._in_frame = False
        self._opcode = 0
        self._fin = False
        self._mask = b""
        self._remaining = 0
        self._offset = 0
        # Per-message state (from its first frame to the frame with FIN)
        self._message = 0  # _TEXT or _BINARY while a message is open, else 0
        self._compressed = False
        self._size = 0  # payload bytes announced by the message's frame headers so far
        self._inflated = 0  # bytes inflated so far (compressed messages)
        self._utf8: _UTF8 | None = None
        self._bad_text = False  # a compressed text message inflated to invalid UTF-8
        self._parts: list[bytes] = []

    def feed(self, data: bytes | bytearray | memoryview) -> list[Any]:
        """Parse `data` (any piece of the stream); return the events it completes, in order.

        Returns:
            `websocket.receive` dicts, `Ping`, `Pong`, `Close` (last), or a `WebSocketError`
            (last; the parser is finished). After either, feed returns [].
        """
        if self._done:
            return []
        self._buffer += data
        events: list[Any] = []
        try:
            self._parse(events)
        except WebSocketError as exc:
            self._finish()
            events.append(exc)
        return events

    def _finish(self) -> None:
        self._done = True
        self._buffer.clear()
        self._parts = []
        self._utf8 = None

    def _parse(self, events: list[Any]) -> None:
        buf = self._buffer
        n = len(buf)
        pos = 0
        while True:
            if not self._in_frame:
                used = self._header(buf, pos, n)
                if not used:
                    break
                pos += used
            if self._opcode >= _CLOSE:
                if n - pos < self._remaining:
                    break
                end = pos + self._remaining
                payload = _unmask(bytes(buf[pos:end]), self._mask)
                pos = end
                self._in_frame = False
                events.append(self._control(payload))
                if self._done:
                    return
                continue
            take = min(self._remaining, n - pos)
            if take:
                chunk = _unmask(bytes(buf[pos : pos + take]), self._mask, self._offset)
                pos += take
                self._offset += take
                self._remaining -= take
                if self._compressed:
                    self._inflate(chunk)
                else:
                    self._append(chunk)
            if self._remaining:
                break
            self._in_frame = False
            if self._compressed:
                if self._fin:
                    self._inflate(b"", end=True)
                if self._bad_text:
                    raise _fail(1007, "invalid UTF-8 in a text message")
            if self._fin:
                events.append(self._end_message())
        del buf[:pos]

    def _header(self, buf: bytearray, pos: int, n: int) -> int:
        """Judge the frame header at `pos`: its length once complete (state set), else 0."""
        if n - pos < 2:
            return 0
        b0 = buf[pos]
        b1 = buf[pos + 1]
        opcode = b0 & 0x0F
        fin = bool(b0 & _FIN)
        # "If an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket
        # Connection_." -- RFC 6455 §5.2
        if opcode not in _KNOWN_OPCODES:
            raise _fail(1002, "reserved opcode")
        # RSV1-3 "MUST be 0 unless an extension is negotiated that defines meanings for non-zero
        # values" -- RFC 6455 §5.2. permessage-deflate gives RSV1 a meaning on the first frame
        # of a data message only: "An endpoint MUST NOT set the "Per-Message Compressed" bit of
        # control frames and non-first fragments of a data message" -- RFC 7692 §6.1.
        if b0 & 0x30:
            raise _fail(1002, "RSV2 or RSV3 set")
        if b0 & _RSV1 and (self._deflate is None or opcode not in (_TEXT, _BINARY)):
            raise _fail(1002, "RSV1 set without permessage-deflate on this frame")
        length = b1 & 0x7F
        if opcode >= _CLOSE:
            # "All control frames MUST have a payload length of 125 bytes or less and MUST NOT
            # be fragmented." -- RFC 6455 §5.5
            if not fin:
                raise _fail(1002, "fragmented control frame")
            if length > 125:
                raise _fail(1002, "control frame payload longer than 125 bytes")
        elif opcode == _CONTINUATION:
            if not self._message:
                raise _fail(1002, "continuation frame without a message to continue")
        elif self._message:
            raise _fail(1002, "new data frame before the fragmented message ended")
        # "The server MUST close the connection upon receiving a frame that is not masked."
        # -- RFC 6455 §5.1
        if not b1 & _MASK:
            raise _fail(1002, "unmasked client frame")
        head = 2
        if length == 126:
            if n - pos < 4:
                return 0
            length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
            head = 4
            # "the minimal number of bytes MUST be used to encode the length" -- RFC 6455 §5.2
            if length < 126:
                raise _fail(1002, "frame length not minimally encoded")
        elif length == 127:
            if n - pos < 10:
                return 0
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            head = 10
            # "the most significant bit MUST be 0" -- RFC 6455 §5.2
            if length >> 63:
                raise _fail(1002, "64-bit frame length with the top bit set")
            if length < 0x10000:
                raise _fail(1002, "frame length not minimally encoded")
        if opcode < _CLOSE and self._size + length > self._max:
            raise _fail(1009, "message too big")
        if n - pos < head + 4:
            return 0
        self._mask = bytes(buf[pos + head : pos + head + 4])
        self._opcode = opcode
        self._fin = fin
        self._remaining = length
        self._offset = 0
        self._in_frame = True
        if opcode in (_TEXT, _BINARY):
            self._message = opcode
            self._compressed = bool(b0 & _RSV1)
            self._utf8 = _UTF8() if opcode == _TEXT else None
        if opcode < _CLOSE:
            self._size += length
        return head + 4

    def _append(self, data: bytes) -> None:
        """Add message bytes (inflated, when compressed), validating text as it comes.

        Bad text in a compressed message is only noted here and reported at the end of its
        frame: zlib drops the output of a call that fails, so whether a corrupt stream showed
        its bad text first would depend on how the input was split (docs/websocket.md).
        """
        if self._utf8 is not None:
            if self._bad_text:
                return
            if not self._utf8.feed(data):
                if not self._compressed:
                    raise _fail(1007, "invalid UTF-8 in a text message")
                self._bad_text = True
        else:
            self._parts.append(data)

    def _inflate(self, chunk: bytes, end: bool = False) -> None:
        assert self._deflate is not None
        budget = self._max - self._inflated
        try:
            if end:
                data = self._deflate.end_inflate(budget)
            else:
                data = self._deflate.inflate(chunk, budget)
        except ValueError:
            raise _fail(1002, "invalid compressed data") from None
        if len(data) > budget:
            raise _fail(1009, "message too big")
        self._inflated += len(data)
        if data:
            self._append(data)

    def _end_message(self) -> dict[str, Any]:
        message: dict[str, Any]
        if self._utf8 is not None:
            text = self._utf8.finish()
            if text is None:
                raise _fail(1007, "invalid UTF-8 in a text message (truncated)")
            message = {"type": "websocket.receive", "text": text}
        else:
            message = {"type": "websocket.receive", "bytes": b"".join(self._parts)}
        self._message = 0
        self._compressed = False
        self._size = 0
        self._inflated = 0
        self._utf8 = None
        self._bad_text = False
        self._parts = []
        return message

    def _control(self, payload: bytes) -> Ping | Pong | Close:
        if self._opcode == _PING:
            return Ping(payload)
        if self._opcode == _PONG:
            return Pong(payload)
        if not payload:
            # "If this Close control frame contains no status code, _The WebSocket Connection
            # Close Code_ is considered to be 1005." -- RFC 6455 §7.1.5
            close = Close(1005, "")
        else:
            # "If there is a body, the first two bytes of the body MUST be a 2-byte unsigned
            # integer" -- RFC 6455 §5.5.1; a 1-byte body can't be one.
            if len(payload) == 1:
                raise _fail(1002, "close frame with a 1-byte payload")
            code = int.from_bytes(payload[:2], "big")
            if not _valid_close_code(code):
                raise _fail(1002, "invalid close code")
            try:
                reason = payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                # "the data is not guaranteed to be human readable ... [it] MUST be UTF-8"
                # -- RFC 6455 §5.5.1; bad data is 1007 (§7.4.1).
                raise _fail(1007, "invalid UTF-8 in the close reason") from None
            close = Close(code, reason)
        self._finish()
        return close


def _frame(first: int, payload: bytes) -> bytes:
    """One unmasked frame: header and payload in one bytes object."""
    n = len(payload)
    if n < 126:
        head = bytes((first, n))
    elif n < 0x10000:
        head = bytes((first, 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((first, 127)) + n.to_bytes(8, "big")
    return head + payload


def _as_bytes(data: object, what: str) -> bytes:
    if type(data) is bytes:
        return data
    try:
        view = memoryview(data)  # type: ignore[arg-type]
    except TypeError:
        raise WebSocketMessageError(
            f"{what} must be bytes-like, not {type(data).__name__}"
        ) from None
    with view:
        return view.tobytes()


def _control_payload(payload: object, what: str) -> bytes:
    data = _as_bytes(payload, what)
    if len(data) > 125:
        raise WebSocketMessageError(f"{what} longer than 125 bytes ({len(data)})")
    return data


class FrameWriter:
    """Builds server frames (unmasked, FIN set), each returned as one bytes object.

    Args:
        deflate: the connection's negotiated permessage-deflate, or None.
    """

    def __init__(self, *, deflate: Deflate | None = None) -> None:
        if deflate is not None and not isinstance(deflate, Deflate):
            raise TypeError(f"deflate must be a Deflate or None, not {type(deflate).__name__}")
        self._deflate = deflate

    def send(self, message: Mapping[str, Any]) -> bytes:
        """Frame a `websocket.send` message: exactly one of "bytes" / "text" is not None.

        Raises:
            WebSocketMessageError: both or neither key, a non-str text, non-bytes bytes, text
                that cannot be encoded as UTF-8 (lone surrogates).
        """
        text = message.get("text")
        data = message.get("bytes")
        if (text is None) == (data is None):
            raise WebSocketMessageError(
                'websocket.send needs exactly one of "bytes" and "text" (not None)'
            )
        if text is not None:
            if not isinstance(text, str):
                raise WebSocketMessageError(f'"text" must be str, not {type(text).__name__}')
            try:
                payload = text.encode("utf-8")
            except UnicodeEncodeError:
                raise WebSocketMessageError('"text" is not encodable as UTF-8') from None
            first = _FIN | _TEXT
        else:
            payload = _as_bytes(data, '"bytes"')
            first = _FIN | _BINARY
        deflate = self._deflate
        if deflate is not None and len(payload) >= deflate.min_size:
            payload = deflate.compress(payload)
            first |= _RSV1
        return _frame(first, payload)

    def ping(self, payload: bytes = b"") -> bytes:
        """A ping frame (payload at most 125 bytes, else WebSocketMessageError)."""
        return _frame(_FIN | _PING, _control_payload(payload, "ping payload"))

    def pong(self, payload: bytes) -> bytes:
        """A pong frame (payload at most 125 bytes, else WebSocketMessageError)."""
        return _frame(_FIN | _PONG, _control_payload(payload, "pong payload"))

    def close(self, code: int = 1000, reason: str = "") -> bytes:
        """A close frame with `code` and `reason`.

        Raises:
            WebSocketMessageError: a code that may not be sent (RFC 6455 §7.4: 1000-1003,
                1007-1014, 3000-4999), a non-str reason, or one longer than 123 UTF-8 bytes.
        """
        if type(code) is not int or not _valid_close_code(code):
            raise WebSocketMessageError(f"close code {code!r} may not be sent")
        if not isinstance(reason, str):
            raise WebSocketMessageError(f"close reason must be str, not {type(reason).__name__}")
        try:
            encoded = reason.encode("utf-8")
        except UnicodeEncodeError:
            raise WebSocketMessageError("close reason is not encodable as UTF-8") from None
        if len(encoded) > 123:
            raise WebSocketMessageError(f"close reason longer than 123 bytes ({len(encoded)})")
        return _frame(_FIN | _CLOSE, code.to_bytes(2, "big") + encoded)

"""The reference twin of permessage-deflate (RFC 7692): `negotiate_deflate` and `Deflate`.

Strategy: `negotiate_deflate` reads the client's offers in order and accepts the first one it
can honour, declining (never failing the handshake) the offers RFC 7692 §7.1 says to decline:
unknown or duplicate parameters, bad values (quoted values are unescaped first, RFC 6455 §9.1),
and a server window of 8 bits, which zlib cannot produce. `Deflate` is the result: the settings
of the response, and the zlib streams of one connection, made lazily on first use so an idle
connection holds none. The compressor ends each message with a sync flush (a full flush when
the server promised no context takeover, which also forgets the window), and drops the tail
00 00 ff ff (RFC 7692 §7.2.1); the inflater gets that tail back at the end of each message and
never produces more than the caller's budget plus one byte, so a zip bomb stops at the limit.
Frame rules stay in frames.py; nothing here does I/O.
"""

from __future__ import annotations

import re
import zlib
from typing import Final

__all__ = ["Deflate", "negotiate_deflate"]

_TAIL: Final = b"\x00\x00\xff\xff"
# A message shorter than this is sent uncompressed (RSV1 clear, RFC 7692 §6: compression is per
# message): deflate's block overhead makes tiny payloads bigger, and skipping them is safe with
# context takeover since the peer's window only ever holds what we compressed.
_MIN_SIZE: Final = 64


def _check_bits(name: str, value: int, low: int) -> int:
    if type(value) is not int or not low <= value <= 15:
        raise ValueError(f"{name} must be an int from {low} to 15, not {value!r}")
    return value


def _check_level(compress_level: int, mem_level: int) -> None:
    if type(compress_level) is not int or not -1 <= compress_level <= 9:
        raise ValueError(f"compress_level must be an int from -1 to 9, not {compress_level!r}")
    if type(mem_level) is not int or not 1 <= mem_level <= 9:
        raise ValueError(f"mem_level must be an int from 1 to 9, not {mem_level!r}")


class Deflate:
    """The negotiated permessage-deflate of one connection, and its zlib streams.

    Shared by the connection's FrameParser (inflating client messages) and FrameWriter
    (compressing server messages). Made by `negotiate_deflate`; the keyword arguments are the
    agreed parameters.

    Args:
        server_no_context_takeover: we reset our compression window after each message.
        client_no_context_takeover: the client resets its window after each message, so our
            inflater is dropped between messages (memory).
        server_max_window_bits: our LZ77 window (9 to 15).
        client_max_window_bits: the client's window (8 to 15; inflated with at least 9).
        compress_level: zlib level (-1 default, 0 to 9).
        mem_level: zlib memLevel of the compressor (1 to 9): memory against speed and ratio.
        min_size: messages shorter than this (in bytes) are sent uncompressed.
    """

    __slots__ = (
        "_compressor",
        "_inflater",
        "_trailer",
        "client_max_window_bits",
        "client_no_context_takeover",
        "compress_level",
        "mem_level",
        "min_size",
        "server_max_window_bits",
        "server_no_context_takeover",
    )

    def __init__(
        self,
        *,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int = 15,
        client_max_window_bits: int = 15,
        compress_level: int = -1,
        mem_level: int = 8,
        min_size: int = _MIN_SIZE,
    ) -> None:
        self.server_no_context_takeover = bool(server_no_context_takeover)
        self.client_no_context_takeover = bool(client_no_context_takeover)
        self.server_max_window_bits = _check_bits(
            "server_max_window_bits", server_max_window_bits, 9
        )
        self.client_max_window_bits = _check_bits(
            "client_max_window_bits", client_max_window_bits, 8
        )
        _check_level(compress_level, mem_level)
        if type(min_size) is not int or min_size < 0:
            raise ValueError(f"min_size must be an int >= 0, not {min_size!r}")
        self.compress_level = compress_level
        self.mem_level = mem_level
        self.min_size = min_size
        self._compressor: zlib._Compress | None = None
        self._inflater: zlib._Decompress | None = None
        self._trailer = b""  # bytes seen after a final block (RFC 7692 §7.2.3.4)

    def __repr__(self) -> str:
        return f"<Deflate {self.response().decode('ascii')!r}>"

    def response(self) -> bytes:
        """The Sec-WebSocket-Extensions value that announces these settings."""
        parts = [b"permessage-deflate"]
        if self.server_no_context_takeover:
            parts.append(b"server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append(b"client_no_context_takeover")
        if self.server_max_window_bits < 15:
            parts.append(b"server_max_window_bits=%d" % self.server_max_window_bits)
        if self.client_max_window_bits < 15:
            parts.append(b"client_max_window_bits=%d" % self.client_max_window_bits)
        return b"; ".join(parts)

    def compress(self, payload: bytes) -> bytes:
        """One whole message, compressed, without the 00 00 ff ff tail (RFC 7692 §7.2.1)."""
        compressor = self._compressor
        if compressor is None:
            compressor = self._compressor = zlib.compressobj(
                self.compress_level, zlib.DEFLATED, -self.server_max_window_bits, self.mem_level
            )
        # A full flush is a sync flush that also resets the window: the next message cannot
        # refer back to this one, which is what server_no_context_takeover promises.
        mode = zlib.Z_FULL_FLUSH if self.server_no_context_takeover else zlib.Z_SYNC_FLUSH
        data = compressor.compress(payload) + compressor.flush(mode)
        # "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end." -- RFC 7692 §7.2.1
        return data[:-4]

    def inflate(self, chunk: bytes, budget: int) -> bytes:
        """Inflate the next piece of a compressed message, producing at most budget + 1 bytes.

        More than `budget` bytes back means the message is too big (the caller fails it).

        Raises:
            ValueError: the data is not a valid DEFLATE stream, or goes on past its final
                block with more than the one 0x00 byte RFC 7692 §7.2.3.4 puts there.
        """
        inflater = self._inflater
        if inflater is None:
            bits = max(self.client_max_window_bits, 9)
            inflater = self._inflater = zlib.decompressobj(-bits)
        if inflater.eof:
            self._after_final(chunk)
            return b""
        try:
            data = inflater.decompress(chunk, budget + 1)
        except zlib.error as exc:
            raise ValueError(str(exc)) from None
        if inflater.eof:
            self._after_final(inflater.unused_data)
        return data

    def _after_final(self, data: bytes) -> None:
        # "The last 1 octet (0x00) contains the header bits with BFINAL set to 0 and BTYPE set
        # to 00, and 5 padding bits of 0. This octet is necessary to allow the payload to be
        # decompressed in the same manner as messages compressed using DEFLATE blocks with
        # BFINAL set to 0." -- RFC 7692 §7.2.3.4. That octet (with the tail we append, an
        # empty stored block) may follow a final block; anything else may not.
        self._trailer += data
        if self._trailer not in (b"", b"\x00"):
            raise ValueError("data after the final DEFLATE block")

    def end_inflate(self, budget: int) -> bytes:
        """End a compressed message: inflate the 00 00 ff ff tail (RFC 7692 §7.2.2), like
        `inflate`, then forget the window unless the client keeps its context.

        A message that ended with a final block (BFINAL, RFC 7692 §7.2.3.3) gets no tail, and
        the next message starts a new stream.
        """
        inflater = self._inflater
        data = b"" if inflater is not None and inflater.eof else self.inflate(_TAIL, budget)
        inflater = self._inflater
        if inflater is not None and (self.client_no_context_takeover or inflater.eof):
            self._inflater = None
            self._trailer = b""
        return data


# The Sec-WebSocket-Extensions grammar -- RFC 6455 §9.1:
#   Sec-WebSocket-Extensions = extension-list
#   extension-list = 1#extension
#   extension = extension-token *( ";" extension-param )
#   extension-param = token [ "=" (token | quoted-string) ]
_OWS: Final = rb"[ \t]*"
_TOKEN: Final = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_QUOTED: Final = rb'"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"'
_PARAM: Final = re.compile(
    _OWS
    + rb";"
    + _OWS
    + rb"("
    + _TOKEN
    + rb")(?:"
    + _OWS
    + rb"="
    + _OWS
    + rb"("
    + _TOKEN
    + rb"|"
    + _QUOTED
    + rb"))?"
)
_TOKEN_RE: Final = re.compile(_TOKEN)
_OWS_RE: Final = re.compile(_OWS)
_SEPARATORS: Final = re.compile(rb"[ \t,]*")
_ESCAPE: Final = re.compile(rb"\\(.)", re.DOTALL)
# "This parameter has a decimal integer value without leading zeroes between 8 to 15,
# inclusive" -- RFC 7692 §7.1.2.1 (and §7.1.2.2 likewise)
_WINDOW_BITS: Final = re.compile(rb"[89]|1[0-5]")


def _parse_offers(
    offers: bytes,
) -> list[tuple[bytes, list[tuple[bytes, bytes | None]]]] | None:
    """Split an extension-list into (name, [(param, value or None)]); None if malformed."""
    result: list[tuple[bytes, list[tuple[bytes, bytes | None]]]] = []
    n = len(offers)
    pos = 0
    while True:
        # Empty list elements (", ,") are allowed and ignored -- RFC 9110 §5.6.1
        pos = _SEPARATORS.match(offers, pos).end()  # type: ignore[union-attr]
        if pos == n:
            return result
        ext = _TOKEN_RE.match(offers, pos)
        if ext is None:
            return None
        params: list[tuple[bytes, bytes | None]] = []
        pos = ext.end()
        while (param := _PARAM.match(offers, pos)) is not None:
            value = param.group(2)
            if value is not None and value[:1] == b'"':
                # "the value after quoted-string unescaping MUST conform to the 'token' ABNF"
                # -- RFC 6455 §9.1: unescaped here, judged by `_accept` (every value it takes
                # is a token), so another extension's odd value does not spoil the list.
                value = _ESCAPE.sub(rb"\1", value[1:-1])
            params.append((param.group(1), value))
            pos = param.end()
        result.append((ext.group(), params))
        pos = _OWS_RE.match(offers, pos).end()  # type: ignore[union-attr]
        if pos < n and offers[pos] != 0x2C:  # ","
            return None


def _accept(
    params: list[tuple[bytes, bytes | None]],
    *,
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: int,
    client_max_window_bits: int,
    compress_level: int,
    mem_level: int,
) -> Deflate | None:
    """The Deflate for one permessage-deflate offer, or None to decline it (RFC 7692 §7.1)."""
    seen: dict[bytes, bytes | None] = {}
    for name, value in params:
        # "A server MUST decline an extension negotiation offer for this extension if any of the
        # following conditions are met: The negotiation offer contains an extension parameter
        # not defined for use in an offer. The negotiation offer contains an extension parameter
        # with an invalid value. The negotiation offer contains multiple extension parameters
        # with the same name." -- RFC 7692 §7.1
        if name in seen:
            return None
        seen[name] = value
        if name in (b"server_no_context_takeover", b"client_no_context_takeover"):
            # "This extension parameter has no value." -- RFC 7692 §7.1.1.1, §7.1.1.2
            if value is not None:
                return None
        elif name == b"server_max_window_bits":
            if value is None or _WINDOW_BITS.fullmatch(value) is None:
                return None
        elif name == b"client_max_window_bits":
            # "This parameter has no value or a decimal integer value ..." -- RFC 7692 §7.1.2.2
            if value is not None and _WINDOW_BITS.fullmatch(value) is None:
                return None
        else:
            return None
    server_bits = server_max_window_bits
    offered_server_bits = seen.get(b"server_max_window_bits")
    if offered_server_bits is not None:
        # "A server accepts an extension negotiation offer with this parameter by including the
        # "server_max_window_bits" extension parameter in the extension negotiation response
        # ... with the same or smaller value as the offer." -- RFC 7692 §7.1.2.1. zlib cannot
        # deflate with an 8-bit window (it refuses raw windowBits 8), so such an offer is
        # declined, as "A server declines an extension negotiation offer with this parameter if
        # the server doesn't support it."
        server_bits = min(server_bits, int(offered_server_bits))
        if server_bits < 9:
            return None
    client_bits = 15
    if b"client_max_window_bits" in seen:
        # "If a received extension negotiation offer doesn't have the "client_max_window_bits"
        # extension parameter, the corresponding extension negotiation response to the offer
        # MUST NOT include the "client_max_window_bits" extension parameter." -- RFC 7692
        # §7.1.2.2; with it, the response may name any value up to the offered one.
        offered_client_bits = seen[b"client_max_window_bits"]
        client_bits = client_max_window_bits
        if offered_client_bits is not None:
            client_bits = min(client_bits, int(offered_client_bits))
    return Deflate(
        # "A server MUST include the "server_no_context_takeover" extension parameter in the
        # response if the offer contains [it]" -- RFC 7692 §7.1.1.1 (paraphrased: the server
        # accepts an offer with it by including it), and may include it unasked.
        server_no_context_takeover=server_no_context_takeover
        or b"server_no_context_takeover" in seen,
        # The client's own promise is echoed (RFC 7692 §7.1.1.2 lets the server include it
        # either way); it lets the inflater be dropped between messages.
        client_no_context_takeover=client_no_context_takeover
        or b"client_no_context_takeover" in seen,
        server_max_window_bits=server_bits,
        client_max_window_bits=client_bits,
        compress_level=compress_level,
        mem_level=mem_level,
    )


def negotiate_deflate(
    offers: bytes,
    *,
    enabled: bool = True,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int = 15,
    client_max_window_bits: int = 15,
    compress_level: int = -1,
    mem_level: int = 8,
) -> tuple[bytes, Deflate] | None:
    """Accept the first permessage-deflate offer we can honour (RFC 7692 §5, §7.1).

    Args:
        offers: the request's Sec-WebSocket-Extensions field values joined with ", ".
        enabled: False declines every offer (returns None).
        server_no_context_takeover: reset our window after each message even if not asked.
        client_no_context_takeover: ask the client to reset its window after each message.
        server_max_window_bits: the largest window we compress with (9 to 15); announced in
            the response when below 15.
        client_max_window_bits: the largest window we ask of the client (8 to 15), used only
            when the client's offer includes client_max_window_bits.
        compress_level: zlib compression level (-1 to 9).
        mem_level: zlib memLevel of the compressor (1 to 9).

    Returns:
        (the response's Sec-WebSocket-Extensions value, the connection's Deflate), or None
        when nothing acceptable was offered, the header is malformed, or `enabled` is False.
    """
    _check_bits("server_max_window_bits", server_max_window_bits, 9)
    _check_bits("client_max_window_bits", client_max_window_bits, 8)
    _check_level(compress_level, mem_level)
    if not enabled:
        return None
    parsed = _parse_offers(bytes(offers))
    if parsed is None:
        return None
    for name, params in parsed:
        if name != b"permessage-deflate":
            continue
        deflate = _accept(
            params,
            server_no_context_takeover=server_no_context_takeover,
            client_no_context_takeover=client_no_context_takeover,
            server_max_window_bits=server_max_window_bits,
            client_max_window_bits=client_max_window_bits,
            compress_level=compress_level,
            mem_level=mem_level,
        )
        if deflate is not None:
            return deflate.response(), deflate
    return None

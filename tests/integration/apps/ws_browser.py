"""A page and a WebSocket route for a real browser, recording what crossed the wire.

`GET /` serves PAGE, whose script opens `ws://<host>/ws` and runs the exchange below; the
`/ws` route answers each step and records what it received, and `BrowserApp.finished` is set
when the connection ends, so the test waits on an event instead of sleeping.

The exchange (the browser leads, the server answers each message):
1. text "hello, 世界" -> the server answers the text "echo: " + text;
2. binary bytes 0..255 -> the server answers them reversed;
3. one binary message of 1 MiB (byte i = i * 31 + 7 mod 256) -> the server checks every
   byte and answers the same 1 MiB back;
4. the text "report " + JSON of what the browser saw of 1-3;
5. the browser closes with code 1000, reason "done": the app sees websocket.disconnect 1000.
"""

from __future__ import annotations

import json
import threading
from typing import Any

MIB = 1 << 20


def big_message() -> bytes:
    """The 1 MiB message of step 3: byte i is (i * 31 + 7) mod 256, as the page builds it."""
    return bytes((i * 31 + 7) & 0xFF for i in range(256)) * (MIB // 256)


PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>sailfish websocket</title></head>
<body><pre id="log"></pre>
<script>
"use strict";
const MIB = 1 << 20;
const seen = {};
const log = (line) => { document.getElementById("log").textContent += line + "\\n"; };
const big = new Uint8Array(MIB);
for (let i = 0; i < MIB; i++) big[i] = (i * 31 + 7) & 0xff;
const small = new Uint8Array(256);
for (let i = 0; i < 256; i++) small[i] = i;
const ws = new WebSocket(`ws://${location.host}/ws`);
ws.binaryType = "arraybuffer";
let step = 0;
function equal(buffer, expected) {
  const got = new Uint8Array(buffer);
  if (got.length !== expected.length) return false;
  for (let i = 0; i < got.length; i++) if (got[i] !== expected[i]) return false;
  return true;
}
ws.onopen = () => { seen.protocol = ws.protocol; ws.send("hello, \\u4e16\\u754c"); };
ws.onmessage = (event) => {
  step += 1;
  if (step === 1) {
    seen.text = event.data;
    ws.send(small);
  } else if (step === 2) {
    seen.binaryIsBuffer = event.data instanceof ArrayBuffer;
    seen.binaryReversed = equal(event.data, small.slice().reverse());
    ws.send(big);
  } else if (step === 3) {
    seen.bigLength = event.data.byteLength;
    seen.bigEqual = equal(event.data, big);
    ws.send("report " + JSON.stringify(seen));
    ws.close(1000, "done");
  }
};
ws.onclose = (event) => { log(`closed ${event.code} ${event.wasClean}`); };
ws.onerror = () => { log("error"); };
</script></body></html>
"""


class BrowserApp:
    """The ASGI app; what it saw is read by the test once `finished` is set."""

    def __init__(self) -> None:
        self.page_served = threading.Event()
        self.finished = threading.Event()
        self.received: list[tuple[str, int]] = []  # ("text" | "bytes", length) per message
        self.problems: list[str] = []  # what the server found wrong in the browser's messages
        self.report: dict[str, Any] | None = None
        self.disconnect: dict[str, Any] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        elif scope["type"] == "websocket":
            try:
                await self.websocket(scope, receive, send)
            finally:
                self.finished.set()

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["path"] != "/":
            body, status = b"not found\n", 404
        else:
            body, status = PAGE.encode(), 200
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        if status == 200:
            self.page_served.set()

    async def websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        message = await receive()
        assert message["type"] == "websocket.connect"
        if scope["path"] != "/ws":
            await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        expected_big = big_message()
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                self.disconnect = dict(message)
                return
            text, data = message.get("text"), message.get("bytes")
            if text is not None:
                self.received.append(("text", len(text)))
                if text.startswith("report "):
                    self.report = json.loads(text[len("report ") :])
                else:
                    await send({"type": "websocket.send", "text": "echo: " + text})
            elif data is not None:
                self.received.append(("bytes", len(data)))
                if len(data) == MIB:
                    if data != expected_big:
                        self.problems.append("the 1 MiB message arrived altered")
                    await send({"type": "websocket.send", "bytes": data})
                else:
                    await send({"type": "websocket.send", "bytes": data[::-1]})
            else:
                self.problems.append(f"a receive message with neither text nor bytes: {message}")

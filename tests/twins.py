"""Helpers shared by the core tests: loading a twin of the core, the request corpus, feeding.

A plain module, not conftest.py: test directories with conftest files of their own would
shadow a `from conftest import ...`. `load_twin("c")` skips the test under
SAILFISH_NO_EXTENSIONS=1, and raises if SAILFISH_REQUIRE_EXTENSIONS=1 and the compiled
module is missing.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

NO_EXTENSIONS = os.environ.get("SAILFISH_NO_EXTENSIONS") == "1"
REQUIRE_EXTENSIONS = os.environ.get("SAILFISH_REQUIRE_EXTENSIONS") == "1"
CORPUS_DIR = Path(__file__).parent / "corpus"


# The WebSocket core's names (docs/websocket.md), by the pure module that defines each.
WS_NAMES = {
    "FrameParser": "frames",
    "FrameWriter": "frames",
    "Ping": "frames",
    "Pong": "frames",
    "Close": "frames",
    "Deflate": "deflate",
    "negotiate_deflate": "deflate",
    "Handshake": "handshake",
    "check_handshake": "handshake",
    "accept_response": "handshake",
}


def load_twin(name: str) -> SimpleNamespace:
    """The classes and functions of one twin ("py" or "c"): HTTP/1.1 and WebSocket."""
    if name == "py":
        parser = importlib.import_module("sailfish.http.parser")
        writer = importlib.import_module("sailfish.http.writer")
        ws = {
            attr: getattr(importlib.import_module(f"sailfish.ws.{module}"), attr)
            for attr, module in WS_NAMES.items()
        }
        return SimpleNamespace(
            name="py",
            RequestParser=parser.RequestParser,
            Request=parser.Request,
            ResponseWriter=writer.ResponseWriter,
            **ws,
        )
    if NO_EXTENSIONS:
        pytest.skip("SAILFISH_NO_EXTENSIONS=1: the compiled twin is not under test")
    try:
        mod = importlib.import_module("sailfish._http")
    except ImportError:
        if REQUIRE_EXTENSIONS:
            raise
        pytest.skip("sailfish._http is not built")
    return SimpleNamespace(
        name="c",
        RequestParser=mod.RequestParser,
        Request=mod.Request,
        ResponseWriter=mod.ResponseWriter,
        **{attr: getattr(mod, attr) for attr in WS_NAMES},
    )


def corpus(kind: str) -> list[Any]:
    """pytest params for every file in tests/corpus/<kind>/, id = file name without suffix."""
    return [
        pytest.param(p.read_bytes(), id=p.stem) for p in sorted((CORPUS_DIR / kind).glob("*.http"))
    ]


def corpus_spec() -> Any:
    """tests/corpus/make_corpus.py as a module: `VALID`, `INVALID`, `EXPECTED_ERROR`, `write`."""
    import importlib.util
    import sys

    name = "sailfish_tests_make_corpus"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, CORPUS_DIR / "make_corpus.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def feed_pieces(parser: Any, raw: bytes, step: int) -> list[Any]:
    """Feed `raw` to `parser` in pieces of `step` bytes; all events, in order.

    After the last piece, `feed(b"")` is called until it returns nothing, so a parser paused
    after an upgrade head goes on (declined upgrade) the same way whatever the split.
    """
    events: list[Any] = []
    for i in range(0, len(raw), step):
        events.extend(parser.feed(raw[i : i + step]))
    for _ in range(100):
        more = parser.feed(b"")
        if not more:
            break
        events.extend(more)
    return events

"""Shared fixtures: the two twins of the core, and the request corpus.

Every core test takes `parser_cls` / `writer_cls` (or `twin`) and so runs once per twin,
with ids "py" (src/sailfish/http/) and "c" (sailfish._http). Under
SAILFISH_NO_EXTENSIONS=1 (the pure leg of `make test`) the "c" params are skipped; under
SAILFISH_REQUIRE_EXTENSIONS=1 a missing compiled module is an error, not a skip.
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


def load_twin(name: str) -> SimpleNamespace:
    """The classes of one twin: "py" or "c"."""
    if name == "py":
        parser = importlib.import_module("sailfish.http.parser")
        writer = importlib.import_module("sailfish.http.writer")
        return SimpleNamespace(
            name="py",
            RequestParser=parser.RequestParser,
            Request=parser.Request,
            ResponseWriter=writer.ResponseWriter,
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
    )


TWINS = [pytest.param("py", id="py"), pytest.param("c", id="c")]


@pytest.fixture(params=TWINS)
def twin(request: pytest.FixtureRequest) -> SimpleNamespace:
    return load_twin(request.param)


@pytest.fixture
def parser_cls(twin: SimpleNamespace) -> Any:
    return twin.RequestParser


@pytest.fixture
def writer_cls(twin: SimpleNamespace) -> Any:
    return twin.ResponseWriter


def corpus(kind: str) -> list[Any]:
    """pytest params for every file in tests/corpus/<kind>/, id = file name without suffix."""
    return [
        pytest.param(p.read_bytes(), id=p.stem) for p in sorted((CORPUS_DIR / kind).glob("*.http"))
    ]

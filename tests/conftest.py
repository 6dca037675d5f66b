"""Shared fixtures: the two twins of the core, and the request corpus.

`@pytest.mark.posix_only("why")` skips a test on Windows with that reason (signals, fork,
unix sockets, os.sendfile: README.md, "Platforms", says what Windows lacks).

Every core test takes `parser_cls` / `writer_cls` (or `twin`) and so runs once per twin,
with ids "py" (src/sailfish/http/) and "c" (sailfish._http). Under
SAILFISH_NO_EXTENSIONS=1 (the pure leg of `make test`) the "c" params are skipped; under
SAILFISH_REQUIRE_EXTENSIONS=1 a missing compiled module is an error, not a skip.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from twins import load_twin

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


def pytest_runtest_setup(item: pytest.Item) -> None:
    marker = item.get_closest_marker("posix_only")
    if marker is not None and sys.platform == "win32":
        pytest.skip(f"POSIX only: {marker.args[0]}")


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short temporary directory for unix sockets, whose paths are limited to about 100
    bytes (104 on macOS, where pytest's tmp_path is already longer than that)."""
    with tempfile.TemporaryDirectory(prefix="sf") as name:
        yield Path(name)

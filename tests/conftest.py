"""Shared fixtures: the two twins of the core, and the request corpus.

Every core test takes `parser_cls` / `writer_cls` (or `twin`) and so runs once per twin,
with ids "py" (src/sailfish/http/) and "c" (sailfish._http). Under
SAILFISH_NO_EXTENSIONS=1 (the pure leg of `make test`) the "c" params are skipped; under
SAILFISH_REQUIRE_EXTENSIONS=1 a missing compiled module is an error, not a skip.
"""

from __future__ import annotations

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

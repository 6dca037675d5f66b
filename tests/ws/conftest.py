"""The WebSocket core tests run once per twin, like the HTTP core tests (fixture `ws`)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest


@pytest.fixture
def ws(twin: SimpleNamespace) -> SimpleNamespace:
    return twin

"""Fixtures for the shell tests; the helpers themselves live in shell_helpers.py."""

from __future__ import annotations

import pytest


@pytest.fixture
def sailfish_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level("DEBUG")
    return caplog

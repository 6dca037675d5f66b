"""System programs the integration tests drive (nginx, haproxy, chromium, curl, openssl, wrk).

`make system-deps` installs them from Debian's packages, and `.ci/run` calls it and sets
SAILFISH_REQUIRE_SYSTEM=1: there a missing program fails the test that needs it, loudly. On a
developer's machine without them the test is skipped, with the make target in the reason.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_SYSTEM = os.environ.get("SAILFISH_REQUIRE_SYSTEM") == "1"


def require_program(*names: str) -> str:
    """The path of the first of `names` on PATH; skip (or fail under CI) when none is."""
    for name in names:
        path = shutil.which(name)
        if path is None and name in ("nginx", "haproxy"):
            path = shutil.which(name, path="/usr/sbin:/sbin")
        if path is not None:
            return path
    message = f"{' or '.join(names)} is not installed (run `make system-deps`)"
    if REQUIRE_SYSTEM:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)

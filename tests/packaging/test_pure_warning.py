"""pure_core_warning(): one line when the pure core runs unasked, silence otherwise.

Strategy: the decision is read from sailfish.http (which twin it picked) and sailfish._compat
(whether SAILFISH_NO_EXTENSIONS=1 asked for the pure one), so the tests set those two attributes
with monkeypatch rather than re-importing the package; one subprocess test checks the real
selection end to end with the compiled module hidden.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

import sailfish._compat
import sailfish.http
from sailfish._compat import pure_core_warning


def test_silent_when_the_compiled_core_is_active(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sailfish.http, "IMPLEMENTATION", "compiled")
    monkeypatch.setattr(sailfish._compat, "NO_EXTENSIONS", False)
    assert pure_core_warning() is None


def test_silent_when_the_pure_core_was_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sailfish.http, "IMPLEMENTATION", "pure")
    monkeypatch.setattr(sailfish._compat, "NO_EXTENSIONS", True)
    assert pure_core_warning() is None


def test_one_line_when_the_pure_core_runs_unasked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sailfish.http, "IMPLEMENTATION", "pure")
    monkeypatch.setattr(sailfish._compat, "NO_EXTENSIONS", False)
    line = pure_core_warning()
    assert line is not None
    assert "\n" not in line
    assert "pure-Python" in line
    assert "SAILFISH_NO_EXTENSIONS=1" in line and "SAILFISH_REQUIRE_EXTENSIONS=1" in line


def test_says_why_when_the_compiled_module_is_missing() -> None:
    # The real selection: sailfish._http hidden as it is on a platform without a wheel.
    code = (
        "import sys, importlib.abc\n"
        "class Hide(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'sailfish._http': raise ImportError('hidden for the test')\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from sailfish._compat import pure_core_warning\n"
        "print(pure_core_warning())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAILFISH_")}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    if platform.python_implementation() != "CPython":  # no compiled core is ever built there
        assert f"not built for {platform.python_implementation()}" in out.stdout
    else:
        assert "failed to import" in out.stdout or "no compiled module" in out.stdout

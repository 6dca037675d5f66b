"""Which twin is active, and how the environment switches choose it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import sailfish


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SAILFISH_")}
    environ.update(env)
    return subprocess.run(
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=60
    )


def test_version_line_names_the_active_twin() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sailfish", "--version"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"sailfish {sailfish.__version__} (")
    from sailfish.http import IMPLEMENTATION
    from sailfish.protocol import COMPILED

    shell = "compiled" if COMPILED else "pure"
    assert f"({IMPLEMENTATION} core, {shell} shell)" in out.stdout


def test_no_extensions_selects_the_pure_twin() -> None:
    out = run_python(
        "import sailfish.http as h; print(h.IMPLEMENTATION, h.RequestParser.__module__)",
        SAILFISH_NO_EXTENSIONS="1",
    )
    assert out.stdout.split() == ["pure", "sailfish.http.parser"], out.stderr


@pytest.mark.skipif(
    os.environ.get("SAILFISH_NO_EXTENSIONS") == "1", reason="the compiled twin is not under test"
)
def test_compiled_twin_is_the_default_when_built() -> None:
    out = run_python("import sailfish.http as h; print(h.IMPLEMENTATION)")
    assert out.stdout.split() == ["compiled"], out.stderr


def test_require_extensions_refuses_a_missing_compiled_module() -> None:
    # Hide sailfish._http by shadowing it with a module that fails to import.
    code = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'sailfish._http': raise ImportError('blocked for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import sailfish.http\n"
    )
    required = run_python(code, SAILFISH_REQUIRE_EXTENSIONS="1")
    assert required.returncode != 0
    assert "ImportError: blocked for the test" in required.stderr
    fallback = run_python(code + "print(sailfish.http.IMPLEMENTATION)")
    assert fallback.returncode == 0, fallback.stderr
    assert fallback.stdout.split() == ["pure"]


def test_no_extensions_runs_the_shell_from_its_source() -> None:
    # Even with the compiled shell built beside protocol.py, as it is in this tree.
    out = run_python(
        "import sailfish.protocol as p; print(p.COMPILED, p.__file__.endswith('protocol.py'))",
        SAILFISH_NO_EXTENSIONS="1",
    )
    assert out.stdout.split() == ["False", "True"], out.stderr


@pytest.mark.skipif(
    os.environ.get("SAILFISH_NO_EXTENSIONS") == "1", reason="the compiled shell is not under test"
)
def test_compiled_shell_is_the_default_when_built() -> None:
    # An extension type is not a heap type (Py_TPFLAGS_HEAPTYPE, 1 << 9); the drop-in's
    # classes, written in Python, stand on the compiled ones.
    out = run_python(
        "import sailfish.protocol as p, sailfish.uvicorn as u\n"
        "print(p.COMPILED, p.__file__.endswith('.py'), bool(p.HTTPProtocol.__flags__ & 512))\n"
        "print(u.HTTPProtocol.__mro__[1] is p.HTTPProtocol)\n"
    )
    assert out.stdout.split() == ["True", "False", "False", "True"], out.stderr


def test_require_extensions_refuses_an_uncompiled_shell() -> None:
    # Make the import find protocol.py, as it would with no compiled shell installed.
    code = (
        "import sys\n"
        "from sailfish._compat import _ShellFromSource\n"
        "sys.meta_path.insert(0, _ShellFromSource())\n"
        "import sailfish.protocol as p\n"
        "print(p.COMPILED)\n"
    )
    required = run_python(code, SAILFISH_REQUIRE_EXTENSIONS="1")
    assert required.returncode != 0
    assert "sailfish.protocol runs uncompiled" in required.stderr
    allowed = run_python(code)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.split() == ["False"]

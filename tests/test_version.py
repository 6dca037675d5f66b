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
    from sailfish.protocols import COMPILED

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
    # Even with the compiled shell (sailfish._shell) built beside the sources, as in this tree.
    out = run_python(
        "import sailfish.protocols as p\n"
        "print(p.COMPILED, p.HTTPProtocol.__module__, p.Connection.__module__)",
        SAILFISH_NO_EXTENSIONS="1",
    )
    assert out.stdout.split() == [
        "False",
        "sailfish.protocols.http1",
        "sailfish.protocols.base",
    ], out.stderr


@pytest.mark.skipif(
    os.environ.get("SAILFISH_NO_EXTENSIONS") == "1", reason="the compiled shell is not under test"
)
def test_compiled_shell_is_the_default_when_built() -> None:
    # An extension type is not a heap type (Py_TPFLAGS_HEAPTYPE, 1 << 9); the drop-in's
    # class, written in Python, stands on the compiled one.
    out = run_python(
        "import sailfish.protocols as p, sailfish.uvicorn as u\n"
        "print(p.COMPILED, p.HTTPProtocol.__module__, bool(p.HTTPProtocol.__flags__ & 512))\n"
        "print(u.HTTPProtocol.__mro__[1] is p.HTTPProtocol)\n"
    )
    assert out.stdout.split() == ["True", "sailfish._shell.http1", "False", "True"], out.stderr


def test_require_extensions_refuses_an_uncompiled_shell() -> None:
    # Make the compiled shell fail to import, as it would with none installed.
    code = (
        "import sys\n"
        "sys.modules['sailfish._shell.http1'] = None  # import of it raises ImportError\n"
        "import sailfish.protocols as p\n"
        "print(p.COMPILED)\n"
    )
    required = run_python(code, SAILFISH_REQUIRE_EXTENSIONS="1")
    assert required.returncode != 0
    assert "import of sailfish._shell.http1 halted" in required.stderr
    allowed = run_python(code)
    assert allowed.returncode == 0, allowed.stderr
    assert allowed.stdout.split() == ["False"]


def test_wsgi_runner_follows_the_shell() -> None:
    # sailfish.wsgi.runner takes the compiled copy's classes, as sailfish.protocols does, so
    # the protocol, WSGIMiddleware and the config's pool all use one set.
    code = (
        "import sailfish.protocols as p, sailfish.wsgi.runner as r, sailfish.wsgi.middleware as m\n"
        "print(p.COMPILED, r.Call.__module__, r.WorkerPool.__module__, m.Call is r.Call)\n"
    )
    pure = run_python(code, SAILFISH_NO_EXTENSIONS="1")
    assert pure.stdout.split() == [
        "False",
        "sailfish.wsgi.runner",
        "sailfish.wsgi.runner",
        "True",
    ], pure.stderr
    if os.environ.get("SAILFISH_NO_EXTENSIONS") != "1":
        built = run_python(code)
        assert built.stdout.split() == [
            "True",
            "sailfish._shell.runner",
            "sailfish._shell.runner",
            "True",
        ], built.stderr

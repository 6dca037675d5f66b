"""What the sdist and the wheels hold: sources in the sdist, compiled code in the wheel.

Strategy: the sdist is built the way wheels.yml builds it (`python -m build --sdist`, here
with --no-isolation so it needs no index) from a copy of the source tree in tmp_path, so
concurrent runs never write into the repository; building an sdist runs no compiler. The
expected files are derived from the tree (every ext/ source, every test), so adding a .pxi or
a test needs no edit here. A wheel is checked only when SAILFISH_TEST_WHEEL names one (`make
wheel` sets it); without a source tree (tests copied next to an installed wheel) the sdist
tests skip.
"""

from __future__ import annotations

import email
import email.message
import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WHEEL = os.environ.get("SAILFISH_TEST_WHEEL", "")
NOT_COPIED = shutil.ignore_patterns(
    ".git", "build", "dist", "*.egg-info", ".*_cache", "wheelhouse", "node_modules"
)
GENERATED = (".c", ".so", ".pyd", ".html", ".pyc", ".o")


def _not_copied(directory: str, names: list[str]) -> set[str]:
    """Build products, caches and virtual environments (any directory with a pyvenv.cfg)."""
    skip = set(NOT_COPIED(directory, names))
    return skip | {n for n in names if (Path(directory, n, "pyvenv.cfg")).is_file()}


def _source_tree() -> bool:
    return all((ROOT / name).is_file() for name in ("setup.py", "MANIFEST.in", "pyproject.toml"))


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tarfile.TarFile]:
    if not _source_tree():
        pytest.skip("no source tree here (the tests run next to an installed wheel)")
    work = tmp_path_factory.mktemp("sdist")
    tree = work / "tree"
    shutil.copytree(ROOT, tree, ignore=_not_copied, symlinks=True)
    out = work / "dist"
    if importlib.util.find_spec("build") is not None:
        cmd = [sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out)]
    else:  # the same sdist through setuptools directly
        cmd = [sys.executable, "setup.py", "-q", "sdist", "--dist-dir", str(out)]
    proc = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("sailfish-*.tar.gz")
    with tarfile.open(path) as tar:
        yield tar


@pytest.fixture(scope="module")
def sdist_files(sdist: tarfile.TarFile) -> set[str]:
    """Paths inside the sdist, without the leading `sailfish-<version>/`."""
    return {m.name.split("/", 1)[1] for m in sdist.getmembers() if m.isfile() and "/" in m.name}


SHELL = ("base", "deadlines", "http1")  # setup.py's SHELL_MODULES


def _relative(paths: list[Path]) -> set[str]:
    return {p.relative_to(ROOT).as_posix() for p in paths if "__pycache__" not in p.parts}


def test_sdist_holds_the_extension_sources(sdist_files: set[str]) -> None:
    sources = _relative(
        [p for p in (ROOT / "ext").rglob("*") if p.suffix in (".pyx", ".pxi", ".pxd", ".h")]
    )
    # The compiled shell: the protocol layer's sources and their Cython types.
    sources |= {f"src/sailfish/protocols/{m}.{x}" for m in SHELL for x in ("py", "pxd")}
    sources |= {"src/sailfish/wsgi/runner.py", "src/sailfish/wsgi/runner.pxd"}
    assert {"ext/_http.pyx", "ext/helpers.pxd", "ext/include/sf_helpers.h"} <= sources
    assert any(s.endswith(".pxi") for s in sources)
    assert sources <= sdist_files, sorted(sources - sdist_files)


def test_sdist_holds_the_tests_and_the_project_files(sdist_files: set[str]) -> None:
    tests = _relative(
        [p for p in (ROOT / "tests").rglob("*") if p.is_file() and p.suffix in (".py", ".http")]
    )
    tests = {t for t in tests if ".hypothesis" not in t}
    assert "tests/conftest.py" in tests
    assert tests <= sdist_files, sorted(tests - sdist_files)
    project = {"LICENSE", "README.md", "pyproject.toml", "setup.py", "MANIFEST.in", "Makefile"}
    stub = {"src/sailfish/_http.pyi", "src/sailfish/py.typed"}
    assert project | stub <= sdist_files, sorted((project | stub) - sdist_files)


def test_sdist_ships_no_generated_files(sdist_files: set[str]) -> None:
    generated = {f for f in sdist_files if f.endswith(GENERATED) or "__pycache__" in f}
    assert not generated
    assert not {f for f in sdist_files if "/.hypothesis/" in f or f.startswith(".hypothesis/")}


def test_sdist_metadata_is_what_users_look_for(sdist: tarfile.TarFile) -> None:
    (member,) = [
        m for m in sdist.getmembers() if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")
    ]
    raw = sdist.extractfile(member)
    assert raw is not None
    meta: email.message.Message = email.message_from_bytes(raw.read())
    assert meta["Name"] == "sailfish"
    assert meta["License-Expression"] == "BSD-3-Clause"
    assert "LICENSE" in meta.get_all("License-File", [])
    assert meta["Description-Content-Type"] == "text/markdown"
    assert "# sailfish" in (meta.get_payload() or "")
    urls = " ".join(meta.get_all("Project-URL", []))
    for label in ("Homepage", "Source", "Issues", "Changelog"):
        assert label in urls
    uvloop = [r for r in meta.get_all("Requires-Dist", []) if r.startswith("uvloop")]
    assert uvloop and "win32" in uvloop[0] and "CPython" in uvloop[0]
    assert "standard" in meta.get_all("Provides-Extra", [])


@pytest.mark.skipif(not WHEEL, reason="SAILFISH_TEST_WHEEL does not name a built wheel")
def test_wheel_holds_the_compiled_core_and_shell_and_no_sources() -> None:
    with zipfile.ZipFile(WHEEL) as whl:
        names = set(whl.namelist())
    # The core, and the shell's modules.
    for module in ("_http", *(f"_shell/{m}" for m in (*SHELL, "runner"))):
        compiled = [
            n for n in names if n.startswith(f"sailfish/{module}.") and n.endswith((".so", ".pyd"))
        ]
        assert len(compiled) == 1, sorted(names)
    assert {"sailfish/_http.pyi", "sailfish/py.typed", "sailfish/http/parser.py"} <= names
    sources = {n for n in names if n.endswith((".pyx", ".pxi", ".pxd", ".c", ".h"))}
    assert not sources
    assert not {n for n in names if n.startswith(("tests/", "ext/", "bench/"))}
    assert "-cp3" in Path(WHEEL).name and not Path(WHEEL).name.endswith("-none-any.whl")

"""Build the compiled core `sailfish._http` from ext/, and the compiled protocol layer
`sailfish._shell` from src/sailfish/protocols/ itself (Cython pure-Python mode); all metadata is
in pyproject.toml.

Switches come from the environment (msgspec style):
  SAILFISH_NO_EXTENSIONS=1      pure-Python build (also forced off CPython)
  SAILFISH_REQUIRE_EXTENSIONS=1 a failed compile is an error (CI, cibuildwheel); without it a
                                compile failure prints one line and installs the pure twin
  SAILFISH_DEBUG=1              -O0 -g, bounds checks, Cython linetrace, annotated HTML
  SAILFISH_SANITIZE=1           AddressSanitizer + UndefinedBehaviorSanitizer (gcc/clang only)
C flags are chosen per compiler (MSVC or gcc/clang) once the compiler is known, in BuildExt.
"""

from __future__ import annotations

import os
import sys
from glob import glob

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

NO_EXT = os.environ.get("SAILFISH_NO_EXTENSIONS") == "1" or sys.implementation.name != "cpython"
REQUIRE_EXT = os.environ.get("SAILFISH_REQUIRE_EXTENSIONS") == "1"
DEBUG = os.environ.get("SAILFISH_DEBUG") == "1"
SANITIZE = os.environ.get("SAILFISH_SANITIZE") == "1"

# What a compiler that cannot build the extension raises: no compiler at all (PlatformError,
# e.g. "Microsoft Visual C++ 14.0 or greater is required"), a failed compile or link
# (CCompilerError), a compiler that cannot be run (ExecError, OSError).
BUILD_ERRORS = (CCompilerError, ExecError, PlatformError, OSError, ValueError)


def c_flags(compiler_type: str) -> list[str]:
    """Compile flags for distutils' compiler type: "msvc", or "unix"/"mingw32" (gcc, clang)."""
    if compiler_type == "msvc":
        return ["/Od", "/Zi"] if DEBUG else ["/O2"]
    flags = ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O2"]
    flags += ["-Wall", "-Wno-unused-function", "-Wno-unreachable-code"]
    if SANITIZE:
        flags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    return flags


def link_flags(compiler_type: str) -> list[str]:
    return ["-fsanitize=address,undefined"] if SANITIZE and compiler_type != "msvc" else []


def _fall_back(exc: BaseException) -> None:
    """Report a failed compile in one line, unless SAILFISH_REQUIRE_EXTENSIONS=1 (re-raise)."""
    if REQUIRE_EXT:
        raise exc
    detail = " ".join(str(exc).split())
    reason = type(exc).__name__ + (f": {detail}" if detail and len(detail) <= 100 else "")
    print(
        f"sailfish: the C extension could not be built ({reason}); installing the pure-Python"
        " core instead (set SAILFISH_REQUIRE_EXTENSIONS=1 to make this an error)",
        file=sys.stderr,
    )


class BuildExt(build_ext):
    """build_ext with per-compiler flags and a pure-Python fall-back when compiling fails."""

    def run(self) -> None:
        self._failed: set[str] = set()
        try:
            super().run()
        except BUILD_ERRORS as exc:  # no usable compiler: found before any extension is built
            _fall_back(exc)
            self.extensions = []

    def build_extensions(self) -> None:
        super().build_extensions()
        # Forget what failed, so that --inplace and editable installs don't look for it.
        self.extensions = [ext for ext in self.extensions if ext.name not in self._failed]

    def build_extension(self, ext: Extension) -> None:
        kind = self.compiler.compiler_type
        ext.extra_compile_args = c_flags(kind) + list(ext.extra_compile_args or [])
        ext.extra_link_args = link_flags(kind) + list(ext.extra_link_args or [])
        try:
            super().build_extension(ext)
        except BUILD_ERRORS as exc:
            _fall_back(exc)
            self._failed.add(ext.name)


def extensions() -> list[Extension]:
    from Cython.Build import cythonize

    macros = [("SAILFISH_DEBUG", "1"), ("CYTHON_TRACE_NOGIL", "1")] if DEBUG else []
    ext = Extension(
        "sailfish._http",
        ["ext/_http.pyx"],
        include_dirs=["ext/include"],
        depends=glob("ext/**/*.p*", recursive=True) + glob("ext/include/*.h"),
        define_macros=macros,
    )
    directives = {
        "language_level": 3,
        "embedsignature": True,
        "wraparound": False,
        "boundscheck": DEBUG,
        "initializedcheck": DEBUG,
        "linetrace": DEBUG,
        "cdivision": True,
        # No GIL needed (free-threaded CPython keeps it off at import): the module's own state
        # is written once at import or per thread, and each object guards itself
        # (ext/include/sf_threads.h).
        "freethreading_compatible": True,
    }
    common = {"build_dir": "build/cython", "annotate": DEBUG, "quiet": True}
    return cythonize([ext], include_path=["ext"], compiler_directives=directives, **common) + (
        cythonize(
            shell_extensions(macros),
            include_path=[SHELL_STAGE],
            # Python semantics, so Cython's defaults: negative indexes wrap, bounds are checked.
            # The .pxd files give the C types; the sources' annotations are for mypy only (to
            # Cython, `size: int` would mean an exact Python int, not the pxd's C type).
            compiler_directives={
                "language_level": 3,
                "linetrace": DEBUG,
                "annotation_typing": False,
                # Each connection's objects live on its event loop's thread; the modules'
                # globals are constants, loggers and the per-loop ticker dict.
                "freethreading_compatible": True,
            },
            **common,
        )
    )


# The protocol layer, compiled from its own sources in pure-Python mode (the .pxd files add the
# types). The compiled modules are named sailfish._shell.<name>, so that the plain sources stay
# importable beside them (sailfish.protocols picks one set, as sailfish.http picks the core's
# twin). Cython names a module after its file, so the sources are copied, unchanged, into a
# staging package under build/ and compiled from there; they import each other relatively.
SHELL_SOURCES = "src/sailfish/protocols"
SHELL_MODULES = ("deadlines", "base", "http1", "websocket", "wsgi")
# Compiled the same way from elsewhere: the WSGI runner (sailfish.wsgi.runner picks the copy).
SHELL_EXTRA = {"runner": "src/sailfish/wsgi"}
SHELL_STAGE = os.path.join("build", "shell")


def shell_extensions(macros: list[tuple[str, str]]) -> list[Extension]:
    package = os.path.join(SHELL_STAGE, "sailfish", "_shell")
    os.makedirs(package, exist_ok=True)
    for init in (os.path.join(SHELL_STAGE, "sailfish"), package):
        open(os.path.join(init, "__init__.py"), "a").close()
    result = []
    for name in SHELL_MODULES + tuple(SHELL_EXTRA):
        for suffix in (".py", ".pxd"):
            source = os.path.join(SHELL_EXTRA.get(name, SHELL_SOURCES), name + suffix)
            target = os.path.join(package, name + suffix)
            with open(source, "rb") as f:
                data = f.read()
            if not os.path.exists(target) or open(target, "rb").read() != data:
                with open(target, "wb") as f:  # rewritten only when changed: no needless rebuild
                    f.write(data)
        result.append(
            Extension(
                f"sailfish._shell.{name}",
                [os.path.join(package, name + ".py")],
                depends=[
                    os.path.join(package, n + ".pxd") for n in SHELL_MODULES + tuple(SHELL_EXTRA)
                ],
                define_macros=macros,
            )
        )
    return result


setup(ext_modules=[] if NO_EXT else extensions(), cmdclass={"build_ext": BuildExt})

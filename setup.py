"""Build the compiled core `sailfish._http` from ext/; all metadata is in pyproject.toml.

Switches come from the environment (msgspec style):
  SAILFISH_NO_EXTENSIONS=1  pure-Python build (also forced off CPython)
  SAILFISH_DEBUG=1          -O0 -g, bounds checks, Cython linetrace, annotated HTML
  SAILFISH_SANITIZE=1       AddressSanitizer + UndefinedBehaviorSanitizer (Linux/macOS)
"""

from __future__ import annotations

import os
import sys
from glob import glob

from setuptools import Extension, setup

NO_EXT = os.environ.get("SAILFISH_NO_EXTENSIONS") == "1" or sys.implementation.name != "cpython"
DEBUG = os.environ.get("SAILFISH_DEBUG") == "1"
SANITIZE = os.environ.get("SAILFISH_SANITIZE") == "1"


def c_flags() -> list[str]:
    if sys.platform == "win32":
        return ["/O2"] if not DEBUG else ["/Od", "/Zi"]
    flags = ["-O0", "-g", "-UNDEBUG"] if DEBUG else ["-O2"]
    flags += ["-Wall", "-Wno-unused-function", "-Wno-unreachable-code"]
    if SANITIZE:
        flags += ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    return flags


def link_flags() -> list[str]:
    return ["-fsanitize=address,undefined"] if SANITIZE and sys.platform != "win32" else []


def extensions() -> list[Extension]:
    from Cython.Build import cythonize

    macros = [("SAILFISH_DEBUG", "1"), ("CYTHON_TRACE_NOGIL", "1")] if DEBUG else []
    ext = Extension(
        "sailfish._http",
        ["ext/_http.pyx"],
        include_dirs=["ext/include"],
        depends=glob("ext/**/*.p*", recursive=True) + glob("ext/include/*.h"),
        define_macros=macros,
        extra_compile_args=c_flags(),
        extra_link_args=link_flags(),
    )
    directives = {
        "language_level": 3,
        "embedsignature": True,
        "wraparound": False,
        "boundscheck": DEBUG,
        "initializedcheck": DEBUG,
        "linetrace": DEBUG,
        "cdivision": True,
    }
    return cythonize(
        [ext],
        include_path=["ext"],
        build_dir="build/cython",
        compiler_directives=directives,
        annotate=DEBUG,
        quiet=True,
    )


setup(ext_modules=[] if NO_EXT else extensions())

"""Version and platform shims, and the one warning about a pure-Python install.

Strategy: everything that depends on the interpreter or platform (rather than on the
configuration) is decided here, so the rest of the package asks one place. Functions only
inspect and return values: they never print, log or exit, so the caller decides where a
message goes (the server logs `pure_core_warning()` once at startup on `sailfish.error`).
Which twin of the core is active is decided by sailfish.http, not here; which shell runs
(compiled or protocol.py itself) by `shell_from_source`, installed by sailfish/__init__.py.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import platform
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType


class _ShellFromSource(importlib.abc.MetaPathFinder):
    """Finds `sailfish.protocol` in protocol.py, even with the compiled module beside it."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "sailfish.protocol":
            return None
        return importlib.util.spec_from_file_location(
            fullname, Path(__file__).with_name("protocol.py")
        )


def shell_from_source() -> None:
    """SAILFISH_NO_EXTENSIONS=1: run the shell as plain Python, like the core.

    Python prefers an extension module to a .py of the same name, so a build that compiled
    protocol.py would otherwise keep running the compiled shell.
    """
    if not any(isinstance(finder, _ShellFromSource) for finder in sys.meta_path):
        sys.meta_path.insert(0, _ShellFromSource())


def pure_core_warning() -> str | None:
    """The one-line warning to log when the pure-Python core runs without being asked for.

    Returns:
        None when the compiled core is active, or when the pure core was chosen on purpose
        with SAILFISH_NO_EXTENSIONS=1; otherwise one line saying why the compiled core is
        missing and how to insist on it or silence the warning.
    """
    import sailfish.http

    if sailfish.http.IMPLEMENTATION == "compiled" or sailfish.http.NO_EXTENSIONS:
        return None
    implementation = platform.python_implementation()
    try:
        found = importlib.util.find_spec("sailfish._http") is not None
    except (ImportError, ValueError):
        found = True  # a finder knows the name but refuses it: an import failure
    if implementation != "CPython":
        why = f"the compiled core is not built for {implementation}"
    elif not found:
        why = "this install has no compiled module (no wheel for this platform and no compiler)"
    else:
        why = "sailfish._http failed to import"
    return (
        f"sailfish is running its pure-Python HTTP core, which is slower: {why}. "
        "Set SAILFISH_NO_EXTENSIONS=1 to silence this, or SAILFISH_REQUIRE_EXTENSIONS=1 "
        "to make it an error."
    )

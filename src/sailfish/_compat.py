"""Version and platform shims, and the one warning about a pure-Python install.

Strategy: everything that depends on the interpreter or platform (rather than on the
configuration) is decided here, so the rest of the package asks one place. Functions only
inspect and return values: they never print, log or exit, so the caller decides where a
message goes (the server logs `pure_core_warning()` once at startup on `sailfish.error`).
The two switches for compiled code are read here, once, and nowhere else:
SAILFISH_NO_EXTENSIONS=1 runs the pure-Python core and shell; SAILFISH_REQUIRE_EXTENSIONS=1 makes
a missing compiled module an ImportError instead of a fall-back. sailfish.http picks the core's
twin and sailfish.protocols the shell's with them.
"""

from __future__ import annotations

import errno
import importlib.util
import os
import platform

NO_EXTENSIONS = os.environ.get("SAILFISH_NO_EXTENSIONS") == "1"
REQUIRE_EXTENSIONS = os.environ.get("SAILFISH_REQUIRE_EXTENSIONS") == "1"

# os.sendfile errors that say "not between these two descriptors" (a socket family or a file
# system that cannot do it), not that the peer or the file failed. Before the first byte, the
# bytes are read and written instead (protocols.base, and the WSGI runner's file_wrapper).
SENDFILE_UNSUPPORTED = frozenset(
    getattr(errno, name)
    for name in ("EINVAL", "ENOTSOCK", "EOPNOTSUPP", "ENOTSUP", "ENOSYS", "ESPIPE")
    if hasattr(errno, name)
)


def pure_core_warning() -> str | None:
    """The one-line warning to log when the pure-Python core runs without being asked for.

    Returns:
        None when the compiled core is active, or when the pure core was chosen on purpose
        with SAILFISH_NO_EXTENSIONS=1; otherwise one line saying why the compiled core is
        missing and how to insist on it or silence the warning.
    """
    import sailfish.http

    if sailfish.http.IMPLEMENTATION == "compiled" or NO_EXTENSIONS:
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

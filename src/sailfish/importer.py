"""Turn a "module:attr" string into the object it names.

Strategy: `import_from_string` imports the module, then walks the (possibly dotted) attribute
path. Every mistake the user can fix on the command line is an `ImportFromStringError` (a
`ConfigError`, so the CLI prints one line and exits 2) whose message says what to change. A
module that exists but fails to import (an ImportError *inside* the app, a SyntaxError, any
exception at import time) is the app's bug: an `AppImportError` (a `StartupError`, exit 3)
whose `__cause__` is the module's exception, its traceback trimmed to the module's own frames
for the CLI to print above the one-line error.
"""

from __future__ import annotations

import importlib
import os
from types import TracebackType
from typing import Any

from sailfish.errors import ConfigError, StartupError


class ImportFromStringError(ConfigError):
    """The "module:attr" string is malformed or names something that does not exist."""


class AppImportError(StartupError):
    """The module exists but raised while being imported; `__cause__` is what it raised."""


# Frames of the import machinery above the module's own code: not what the user needs to see.
_MACHINERY = (os.path.normcase(__file__), os.path.normcase(importlib.__file__ or ""))
# CPython names importlib's frozen frames "<frozen importlib._bootstrap>"; PyPy also has
# "<builtin>/frozen importlib._bootstrap_external".
_FROZEN = ("<frozen importlib", "<builtin>/frozen importlib")


def _module_frames(tb: TracebackType | None) -> TracebackType | None:
    """The traceback from the first frame that is not this module or importlib's."""
    while tb is not None and (
        os.path.normcase(tb.tb_frame.f_code.co_filename) in _MACHINERY
        or tb.tb_frame.f_code.co_filename.startswith(_FROZEN)
    ):
        tb = tb.tb_next
    return tb


def import_from_string(import_str: Any) -> Any:
    """Import the object named by `import_str`.

    Args:
        import_str: `"package.module:attribute"`; the attribute may be dotted
            (`"main:factory.app"`). Anything that is not a `str` is returned as is, so an
            application object can be passed where a string is expected.

    Returns:
        The named object.

    Raises:
        ImportFromStringError: the string is not `module:attr`, the module itself does not
            exist, or it has no such attribute.
        AppImportError: the module exists but its import raised (`__cause__`).
    """
    if not isinstance(import_str, str):
        return import_str

    module_str, _, attrs_str = import_str.partition(":")
    if not module_str or not attrs_str:
        raise ImportFromStringError(
            f'import string "{import_str}" must be in format "<module>:<attribute>", '
            'for example "main:app"'
        )

    failure: Exception | None = None
    try:
        module = importlib.import_module(module_str)
    except ModuleNotFoundError as exc:
        # Only the module we were asked for (or one of its parent packages) is a usage error;
        # a module the app itself fails to find is the app's bug and keeps its traceback.
        missing = exc.name or ""
        if missing == module_str or module_str.startswith(missing + "."):
            raise ImportFromStringError(
                f'could not import module "{module_str}": no module named "{missing}" '
                "(check the name, the current directory or --app-dir)"
            ) from None
        failure = exc
    except Exception as exc:
        failure = exc
    if failure is not None:
        # Raised outside the except clause: there, PyPy would give the cause back the
        # traceback that _raised_while_importing trims.
        raise _raised_while_importing(module_str, failure) from failure

    instance: Any = module
    for attr in attrs_str.split("."):
        try:
            instance = getattr(instance, attr)
        except AttributeError:
            raise ImportFromStringError(
                f'attribute "{attrs_str}" not found in module "{module_str}"'
            ) from None
    return instance


def _raised_while_importing(module_str: str, exc: BaseException) -> AppImportError:
    exc.__traceback__ = _module_frames(exc.__traceback__)
    what = " ".join(str(exc).split())
    return AppImportError(
        f'importing "{module_str}" raised {type(exc).__name__}' + (f": {what}" if what else "")
    )


__all__ = ["AppImportError", "ImportFromStringError", "import_from_string"]

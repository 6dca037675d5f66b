"""Turn a "module:attr" string into the object it names.

Strategy: `import_from_string` imports the module, then walks the (possibly dotted) attribute
path. Every mistake the user can fix on the command line is an `ImportFromStringError` (a
`ConfigError`, so the CLI prints one line and exits 2) whose message says what to change. A
module that exists but fails to import (an ImportError *inside* the app, a SyntaxError, any
exception at import time) is the app's bug: it propagates untouched, with its traceback.
"""

from __future__ import annotations

import importlib
from typing import Any

from sailfish.errors import ConfigError


class ImportFromStringError(ConfigError):
    """The "module:attr" string is malformed or names something that does not exist."""


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
    """
    if not isinstance(import_str, str):
        return import_str

    module_str, _, attrs_str = import_str.partition(":")
    if not module_str or not attrs_str:
        raise ImportFromStringError(
            f'import string "{import_str}" must be in format "<module>:<attribute>", '
            'for example "main:app"'
        )

    try:
        module = importlib.import_module(module_str)
    except ModuleNotFoundError as exc:
        # Only the module we were asked for (or one of its parent packages) is a usage error;
        # a module the app itself fails to find is the app's bug and keeps its traceback.
        missing = exc.name or ""
        if missing != module_str and not module_str.startswith(missing + "."):
            raise
        raise ImportFromStringError(
            f'could not import module "{module_str}": no module named "{missing}" '
            "(check the name, the current directory or --app-dir)"
        ) from None

    instance: Any = module
    for attr in attrs_str.split("."):
        try:
            instance = getattr(instance, attr)
        except AttributeError:
            raise ImportFromStringError(
                f'attribute "{attrs_str}" not found in module "{module_str}"'
            ) from None
    return instance


__all__ = ["ImportFromStringError", "import_from_string"]

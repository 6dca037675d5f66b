"""`python -m sailfish` and the `sailfish` console script: hands over to cli.main().

`version_line()` lives here because it must work even when the CLI's own dependencies
are broken: it is the first thing a packager checks (which twin of the core is active, and
whether the shell runs compiled).
"""

from __future__ import annotations

import platform
import sys


def version_line() -> str:
    from sailfish import __version__
    from sailfish.http import IMPLEMENTATION
    from sailfish.protocols import COMPILED

    shell = "compiled" if COMPILED else "pure"
    return (
        f"sailfish {__version__} ({IMPLEMENTATION} core, {shell} shell) running on "
        f"{platform.python_implementation()} {platform.python_version()} on {platform.system()}"
    )


def main() -> int:
    from sailfish.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())

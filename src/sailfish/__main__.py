"""`python -m sailfish` and the `sailfish` console script.

Until the server shell lands, this only reports the version and which twin of the core
is active (compiled or pure), the check a packager runs first.
"""

from __future__ import annotations

import argparse
import platform
import sys


def version_line() -> str:
    from sailfish import __version__
    from sailfish.http import IMPLEMENTATION

    return (
        f"sailfish {__version__} ({IMPLEMENTATION} core) running on "
        f"{platform.python_implementation()} {platform.python_version()} on {platform.system()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sailfish", description="sailfish ASGI server")
    parser.add_argument("--version", action="store_true", help="show version and core, then exit")
    args = parser.parse_args(argv)
    if args.version:
        print(version_line())
        return 0
    parser.print_usage(sys.stderr)
    print("sailfish: the server is not implemented yet; try --version", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())

"""atheris: the WSGI environ builder's twins agree on the scope of any request that parses.

The input is the bytes a client sends (seeds: tests/corpus/valid); each request the pure
parser returns (with a root_path chosen from the input: none, `/mount`, `/é`) becomes an
environ through both `build_environ` twins, which must be equal key for key, value for
value and type for type; anything raised is a finding.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402

compiled = common.require_compiled()
with common.instrumented(__name__ == "__main__"):
    from sailfish.http import parser as pure_parser
    from sailfish.wsgi import environ as pure_environ

BASE = {"wsgi.version": (1, 0), "wsgi.run_once": False}
ROOTS = ("", "/mount", "/é")


def typed(environ: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    return {key: (type(value).__name__, value) for key, value in environ.items()}


def test_one(data: bytes) -> None:
    root = ROOTS[zlib.crc32(data) % len(ROOTS)]
    parser = pure_parser.RequestParser(
        client=("10.0.0.2", 4321), server=("127.0.0.1", 80), root_path=root
    )
    for event in parser.feed(data):
        scope = getattr(event, "scope", None)
        if scope is None or isinstance(event, dict):
            continue
        expected = typed(pure_environ.build_environ(scope, BASE))
        assert typed(compiled.build_environ(scope, BASE)) == expected, scope


if __name__ == "__main__":
    common.run(test_one)

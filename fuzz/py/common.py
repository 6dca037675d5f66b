"""What the atheris harnesses share: both twins, comparable outcomes, splits, the runner.

Each harness in fuzz/py/ is a script: `python fuzz/py/<harness>.py [libFuzzer flags] [corpus]`.
The pure twin (src/sailfish) is instrumented for coverage; the compiled twin is not (it is
built without -fsanitize=fuzzer), so coverage is the pure twin's and the compiled one is held
to it by the oracle. `load()` refuses to run without the compiled twin: a differential
harness with one twin proves nothing.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "tests" / "corpus" / "fuzz"


def seeds_dir(harness: str) -> Path:
    """tests/corpus/fuzz/py-<harness>/: the seed corpus that `make fuzz-py` starts from."""
    return SEEDS / f"py-{harness}"


def cuts(data: bytes, most: int = 4) -> list[int]:
    """Split points for `data`, chosen by its own bytes (so a finding replays the same way)."""
    if len(data) < 2:
        return []
    rng = random.Random(zlib.crc32(data))
    return sorted(rng.randrange(1, len(data)) for _ in range(rng.randint(1, most)))


def pieces(data: bytes, at: Iterable[int]) -> list[bytes]:
    points = [0, *at, len(data)]
    return [data[a:b] for a, b in zip(points[:-1], points[1:], strict=True)]


def freeze(value: Any) -> Any:
    """A comparable copy of `value` that keeps the type of every part (bytes != bytearray)."""
    if isinstance(value, dict):
        return ("dict", tuple(sorted((k, freeze(v)) for k, v in value.items())))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(freeze(v) for v in value))
    return (type(value).__name__, value)


class Draw:
    """Values drawn from the front of the input, one byte each; zeros once it is used up.

    Stands in for atheris.FuzzedDataProvider so a harness also runs without atheris (the
    replay tests import it), and a program decodes the same way under both.
    """

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def byte(self) -> int:
        if self._at >= len(self._data):
            return 0
        self._at += 1
        return self._data[self._at - 1]

    def below(self, n: int) -> int:
        """An int in range(n), n <= 256."""
        return self.byte() % n

    def flag(self) -> bool:
        return bool(self.byte() & 1)

    def pick(self, pool: list[Any]) -> Any:
        return pool[self.below(len(pool))]

    def take(self, n: int) -> bytes:
        out = self._data[self._at : self._at + n]
        self._at += len(out)
        return out


def instrumented(fuzzing: bool) -> contextlib.AbstractContextManager[Any]:
    """Instrument sailfish's pure modules for coverage when `fuzzing` (run as a script)."""
    if fuzzing:
        import atheris

        return atheris.instrument_imports(include=["sailfish"])  # type: ignore[no-any-return]
    return contextlib.nullcontext()


def run(test_one: Callable[[bytes], None]) -> None:
    """Hand `test_one` to atheris (libFuzzer flags and corpus directories from argv)."""
    import atheris

    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


def require_compiled() -> Any:
    """sailfish._http, or exit: both twins must be present."""
    if os.environ.get("SAILFISH_NO_EXTENSIONS") == "1":
        sys.exit("fuzz/py: the harnesses compare both twins; unset SAILFISH_NO_EXTENSIONS")
    try:
        import sailfish._http as compiled
    except ImportError as exc:
        sys.exit(f"fuzz/py: build the compiled twin first (make compile): {exc}")
    return compiled

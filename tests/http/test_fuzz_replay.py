"""Replay the atheris harnesses' inputs: every seed and every finding, on both twins.

Strategy: each harness in fuzz/py/ exposes `test_one(data)`, the oracle the fuzzer runs
(fuzz/py/http_parser.py: the twins agree whole and split, and each parsed request survives
being written again; wsgi_environ.py, ws_frames.py, response_writer.py: the twins agree).
Here it runs, without atheris, on the inputs kept in the tree: the request corpus (valid,
invalid, regressions) for the HTTP harnesses, tests/corpus/fuzz/py-<harness>/ for the others
(seeds, and findings kept as regressions). A finding fixed once stays fixed.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from twins import CORPUS_DIR, load_twin

FUZZ_PY = Path(__file__).resolve().parents[2] / "fuzz" / "py"
HTTP_INPUTS = sorted(
    p for kind in ("valid", "invalid", "regressions") for p in (CORPUS_DIR / kind).glob("*.http")
)


def inputs(harness: str) -> list[Any]:
    if harness in ("http_parser", "wsgi_environ"):
        files = HTTP_INPUTS
    else:
        files = sorted((CORPUS_DIR / "fuzz" / f"py-{harness}").glob("*.bin"))
    return [pytest.param(p, id=f"{p.parent.name}/{p.stem}") for p in files]


def harness_module(name: str) -> ModuleType:
    load_twin("c")  # the harnesses compare both twins: skips (or raises) as the core does
    if not FUZZ_PY.is_dir():
        pytest.skip("fuzz/py is not in this tree (an sdist)")
    if str(FUZZ_PY) not in sys.path:
        sys.path.insert(0, str(FUZZ_PY))
    return importlib.import_module(name)


@pytest.mark.parametrize(
    ("harness", "path"),
    [
        pytest.param(h, *p.values, id=f"{h}:{p.id}")
        for h in ("http_parser", "wsgi_environ", "ws_frames", "response_writer")
        for p in inputs(h)
    ],
)
def test_harness_oracle_holds(harness: str, path: Path) -> None:
    harness_module(harness).test_one(path.read_bytes())


@pytest.mark.parametrize("harness", ["ws_frames", "response_writer"])
def test_every_harness_has_seeds(harness: str) -> None:
    assert inputs(harness), f"tests/corpus/fuzz/py-{harness}/ is empty: run fuzz/py/seeds.py"

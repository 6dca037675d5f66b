"""Replay the fuzz harnesses' seeds and regression inputs (tests/corpus/fuzz/) in `make test`.

Strategy: the fuzzers themselves need clang and run under `make fuzz` / `make fuzz-smoke`; what
they found must stay fixed without them. The oracles of the harnesses over the core are plain
Python (fuzz/targets.py), so every seed and regression input of those goes through them here,
on both twins: an input that once crashed the compiled core fails the "c" leg, and the pure twin
is held to the same oracles. The pure-C harnesses (fuzz/fuzz_helpers.c, fuzz/fuzz_ws.c) are
built with the platform's C compiler and a plain main() (fuzz/replay.c), under ASan/UBSan when
the compiler has them, and run over their inputs; they test the compiled core's C helpers only,
so they are skipped with SAILFISH_NO_EXTENSIONS=1. fuzz/ is not in the sdist (its C files
would read as generated code there): tests run from an unpacked sdist or next to a wheel skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from twins import NO_EXTENSIONS, load_twin

ROOT = Path(__file__).resolve().parents[2]
FUZZ = ROOT / "fuzz"
CORPUS = ROOT / "tests" / "corpus" / "fuzz"
if not (FUZZ / "targets.py").is_file():
    pytest.skip("fuzz/ is not here (an sdist or a wheel's tests)", allow_module_level=True)
sys.path.insert(0, str(FUZZ))
import targets  # noqa: E402

sys.path.remove(str(FUZZ))


def inputs(harness: str) -> list[Path]:
    return sorted(p for p in (CORPUS / harness).rglob("*") if p.is_file())


CASES = [
    pytest.param(harness, path, id=f"{harness}/{path.relative_to(CORPUS / harness)}")
    for harness in targets.TARGETS
    for path in inputs(harness)
]


@pytest.mark.parametrize("twin_name", ["py", "c"])
@pytest.mark.parametrize(("harness", "path"), CASES)
def test_oracles_hold_on_every_seed_and_regression(
    twin_name: str, harness: str, path: Path
) -> None:
    load_twin(twin_name)  # skips "c" under SAILFISH_NO_EXTENSIONS=1
    targets.TARGETS[harness](path.read_bytes(), twin_name)


def test_every_harness_has_seeds() -> None:
    for harness in (*targets.TARGETS, "helpers", "ws"):
        assert len(inputs(harness)) >= 5, harness


def _compiler() -> list[str]:
    cc = (sysconfig.get_config_var("CC") or "cc").split()
    if shutil.which(cc[0]) is None:
        pytest.skip(f"no C compiler ({cc[0]}) to build the C harnesses' replay")
    return cc


@pytest.fixture(scope="module")
def replay_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-replay")


@pytest.mark.skipif(NO_EXTENSIONS, reason="the C helpers belong to the compiled twin")
@pytest.mark.parametrize("harness", ["helpers", "ws"])
def test_c_harness_replays_its_seeds_and_regressions(harness: str, replay_dir: Path) -> None:
    cc = _compiler()
    exe = replay_dir / f"replay_{harness}"
    sources = [str(FUZZ / f"fuzz_{harness}.c"), str(FUZZ / "replay.c")]
    base = [*cc, "-O1", "-g", f"-I{ROOT / 'ext' / 'include'}", *sources, "-o", str(exe)]
    sanitize = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    built = subprocess.run(base + sanitize, capture_output=True, text=True)
    if built.returncode != 0:  # a compiler without the sanitizers: the oracles still run
        built = subprocess.run(base, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    files = [str(p) for p in inputs(harness)]
    env = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0"}
    ran = subprocess.run([str(exe), *files], capture_output=True, text=True, env=env, timeout=120)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert ran.stdout.strip() == f"replay: {len(files)} inputs"

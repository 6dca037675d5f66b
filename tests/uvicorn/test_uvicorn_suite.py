"""uvicorn's own protocol test-suite, run against `sailfish.uvicorn:HTTPProtocol` and `WSProtocol`.

Strategy: the proof that the drop-in keeps uvicorn's contract is uvicorn's tests, unchanged.
The sdist of the pinned uvicorn (it ships tests/) is downloaded once with pip into
build/uvicorn-suite/ (gitignored) and unpacked there; its `uvicorn/` package is removed so the
installed uvicorn, the one users run, is what gets tested. A conftest.py written into its
tests/protocols/ overrides the `http_protocol_cls` fixture with two params, "httptools" and
"sailfish", and the `ws_protocol_cls` fixture with a third param, "sailfishws"
(`sailfish.uvicorn:WSProtocol`, beside uvicorn's wsproto and websockets-sansio); the suite runs
in a subprocess (its own pytest config via `-c` and `--rootdir`, never ours; no cache) with
junit XML output, and every test id that passes for httptools must pass for sailfish, and
every one that passes for websockets-sansio or wsproto must pass for sailfishws, except the
few in WS_DIFFERENCES, each with the reason sailfish differs. The subprocess inherits
SAILFISH_NO_EXTENSIONS, so `make test` proves both twins. No sdist and no network: skipped,
except under CI (CI=true), where that is a failure.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

UVICORN_VERSION = "0.54.0"  # keep equal to the `uvicorn==` pin in pyproject's test group
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "build" / "uvicorn-suite"
ON_CI = os.environ.get("CI", "").lower() == "true"

# test_websocket.py starts real servers and hands upgrades over to uvicorn's WebSocket
# protocols; it needs httpx2 and runs in parallel (uvicorn's own habit: -n 8).
SUITE = ["tests/protocols/test_http.py", "tests/protocols/test_websocket.py"]
SUITE_NEEDS = {"tests/protocols/test_websocket.py": ("httpx2", "websockets", "xdist")}

CONFTEST = '''\
"""Written by sailfish's tests/uvicorn/test_uvicorn_suite.py: httptools vs sailfish, and
websockets-sansio vs sailfishws."""

import importlib.util

import pytest

from uvicorn.importer import import_from_string


@pytest.fixture(
    params=[
        pytest.param("uvicorn.protocols.http.httptools_impl:HttpToolsProtocol", id="httptools"),
        pytest.param("sailfish.uvicorn:HTTPProtocol", id="sailfish"),
    ]
)
def http_protocol_cls(request):
    return import_from_string(request.param)


@pytest.fixture(
    params=[
        pytest.param(
            "uvicorn.protocols.websockets.wsproto_impl:WSProtocol",
            marks=pytest.mark.skipif(not importlib.util.find_spec("wsproto"), reason="no wsproto"),
            id="wsproto",
        ),
        pytest.param(
            "uvicorn.protocols.websockets.websockets_sansio_impl:WebSocketsSansIOProtocol",
            id="websockets-sansio",
        ),
        pytest.param("sailfish.uvicorn:WSProtocol", id="sailfishws"),
    ]
)
def ws_protocol_cls(request):
    return import_from_string(request.param)
'''

# uvicorn's WebSocket protocols that sailfishws must match: a test that passes for either must
# pass for sailfishws (websockets-sansio skips some of uvicorn's tests that wsproto runs).
WS_REFERENCES = ("websockets-sansio", "wsproto")

# Tests that pass with uvicorn's websockets-sansio protocol and cannot with sailfish's, by
# design; the key is the test's name (every parameter set), the value the reason.
WS_DIFFERENCES: dict[str, str] = {
    "test_server_keepalive_ping_pong": "it asserts the protocol is an instance of one of "
    "uvicorn's own WebSocket classes (sailfish's keepalive is tested in "
    "test_server_keepalive_ping_timeout and in sailfish's own tests)",
    "test_server_keepalive_disabled": "it asserts the protocol is an instance of one of "
    "uvicorn's own WebSocket classes",
    "test_close_resumes_reads_paused_on_an_unconsumed_message": "it asserts that reading "
    "pauses with one unread message; sailfish reads ahead until `ws_max_queue` messages wait "
    "(uvicorn's setting, 32 by default) and only then pauses",
}


def _unavailable(reason: str) -> None:
    if ON_CI:
        pytest.fail(f"{reason} (CI=true: the uvicorn suite must run)")
    pytest.skip(reason)


def _sdist() -> Path | None:
    """The cached sdist, downloaded first if needed; None if it cannot be had."""
    name = f"uvicorn-{UVICORN_VERSION}.tar.gz"
    path = CACHE / name
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as download:
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps"]
        command += ["--no-binary", ":all:", f"uvicorn=={UVICORN_VERSION}", "-d", download]
        try:
            subprocess.run(command, capture_output=True, timeout=120, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        got = Path(download) / name
        if not got.exists():
            return None
        os.replace(got, path)
    return path


def _unpack(sdist: Path) -> Path:
    """Unpack once (atomically: concurrent runs may race), then write our conftest."""
    tree = CACHE / f"uvicorn-{UVICORN_VERSION}"
    if not (tree / "tests" / "protocols" / "test_http.py").exists():
        staging = Path(tempfile.mkdtemp(dir=CACHE))
        with tarfile.open(sdist) as archive:
            if sys.version_info >= (3, 12):
                archive.extractall(staging, filter="data")
            else:  # pragma: no cover - the sdist comes from PyPI via pip
                archive.extractall(staging)
        unpacked = staging / f"uvicorn-{UVICORN_VERSION}"
        shutil.rmtree(unpacked / "uvicorn")  # test the installed uvicorn, not the sdist copy
        try:
            os.replace(unpacked, tree)
        except OSError:  # another run got there first
            pass
        shutil.rmtree(staging, ignore_errors=True)
    (tree / "tests" / "protocols" / "conftest.py").write_text(CONFTEST)
    return tree


def _outcomes(report: Path) -> dict[str, str]:
    """Test id ("file::name[params]") -> "passed", "failed" or "skipped", from junit XML."""
    outcomes: dict[str, str] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            outcomes[test_id] = "failed"
        elif "skipped" in kinds:
            outcomes[test_id] = "skipped"
        else:
            outcomes[test_id] = "passed"
    return outcomes


def _run_suite(
    tree: Path, args: list[str], report: Path, env: dict[str, str]
) -> tuple[dict[str, str], str]:
    """Run uvicorn's pytest in its unpacked `tree` with `args`; its outcomes by test id, stdout."""
    command = [sys.executable, "-m", "pytest", *args, "-c", str(tree / "pyproject.toml")]
    command += ["--rootdir", str(tree), "-p", "no:cacheprovider", "-o", "addopts="]
    command += ["-q", "--strict-markers", f"--junitxml={report}"]
    result = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, timeout=300)
    assert report.exists(), f"uvicorn's suite did not run:\n{result.stdout}\n{result.stderr}"
    return _outcomes(report), result.stdout


def _node_id(test_id: str) -> str:
    """The pytest node id of a junit test id ("tests.protocols.test_http::test_x[p]")."""
    module, name = test_id.split("::", 1)
    return f"{module.replace('.', '/')}.py::{name}"


def _as_sailfish(test_id: str) -> str | None:
    """The sailfish twin of an httptools test id; None for a test without the param."""
    match = re.fullmatch(r"(.*)\[(.*)\]", test_id)
    if match is None or "httptools" not in match.group(2).split("-"):
        return None
    params = ["sailfish" if part == "httptools" else part for part in match.group(2).split("-")]
    return f"{match.group(1)}[{'-'.join(params)}]"


def _as_sailfish_ws(test_id: str) -> str | None:
    """The sailfishws twin of a websockets-sansio or wsproto test id; None for a test with
    neither."""
    match = re.fullmatch(r"(.*)\[(.*)\]", test_id)
    if match is None:
        return None
    for reference in WS_REFERENCES:
        if reference in match.group(2):
            return f"{match.group(1)}[{match.group(2).replace(reference, 'sailfishws')}]"
    return None


def test_uvicorn_protocol_suite_passes_for_sailfish(tmp_path: Path) -> None:
    for module in ("uvicorn", "httptools", "anyio"):
        if importlib.util.find_spec(module) is None:
            _unavailable(f"{module} is not installed (pip install --group test)")
    installed = importlib.metadata.version("uvicorn")
    if installed != UVICORN_VERSION:
        pytest.fail(f"uvicorn {installed} is installed; this suite is uvicorn {UVICORN_VERSION}'s")
    sdist = _sdist()
    if sdist is None:
        _unavailable(f"uvicorn {UVICORN_VERSION} sdist: not cached in {CACHE}, download failed")
        return
    tree = _unpack(sdist)

    files = [
        name
        for name in SUITE
        if all(importlib.util.find_spec(module) for module in SUITE_NEEDS.get(name, ()))
    ]
    env = {key: value for key, value in os.environ.items() if key != "PYTEST_ADDOPTS"}
    if env.get("PYTHONPATH"):  # the suite runs from its own directory
        paths = env["PYTHONPATH"].split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(os.path.abspath(path) for path in paths if path)
    # uvicorn's own setting; its server tests mostly sleep.
    workers = ["-n", "8"] if importlib.util.find_spec("xdist") is not None else []
    outcomes, stdout = _run_suite(tree, files + workers, tmp_path / "uvicorn-suite.xml", env)
    counts: dict[str, dict[str, int]] = {"httptools": {}, "sailfish": {}, "sailfishws": {}}
    for test_id, outcome in outcomes.items():
        for protocol, tally in counts.items():
            if re.search(rf"[\[-]{protocol}[\]-]", test_id):
                tally[outcome] = tally.get(outcome, 0) + 1
    print(f"uvicorn {UVICORN_VERSION} suite ({', '.join(files)}): {counts}")

    lagging = {}  # sailfish test id -> its outcome, where the reference passed
    for test_id, outcome in sorted(outcomes.items()):
        twin = _as_sailfish(test_id)
        ws_twin = _as_sailfish_ws(test_id)
        if outcome != "passed":
            continue
        if twin is not None and outcomes.get(twin) != "passed":
            lagging[twin] = outcomes.get(twin, "not run")
        if (
            ws_twin is not None
            and outcomes.get(ws_twin) != "passed"
            and ws_twin.split("::")[-1].split("[")[0] not in WS_DIFFERENCES
        ):
            lagging[ws_twin] = outcomes.get(ws_twin, "not run")
    # Many of uvicorn's tests wait with fixed sleeps (0.1 s for a client to connect), which a
    # loaded machine can outlast. A failure is a difference only if it repeats: each lagging test
    # runs again, alone and serially, up to twice.
    for attempt in range(2):
        if not lagging or any(outcome == "not run" for outcome in lagging.values()):
            break
        ids = [_node_id(test_id) for test_id in lagging]
        again, stdout = _run_suite(tree, ids, tmp_path / f"uvicorn-rerun-{attempt}.xml", env)
        lagging = {test_id: again.get(test_id, "not run") for test_id in lagging}
        lagging = {test_id: outcome for test_id, outcome in lagging.items() if outcome != "passed"}
    missing = [f"{test_id}: {outcome}" for test_id, outcome in lagging.items()]
    assert not missing, (
        "passes for httptools / websockets-sansio or wsproto but not for sailfish / sailfishws:\n"
        + "\n".join(missing)
    )
    assert counts["sailfish"].get("passed", 0) >= 100, (counts, stdout[-3000:])

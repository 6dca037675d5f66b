"""The process settings and the pieces of the supervisor that need no process to test.

The worker processes themselves are driven in tests/integration/test_workers.py.
"""

from __future__ import annotations

import os
import socket
import time

import pytest

from sailfish import sockets
from sailfish.config import Config
from sailfish.errors import ConfigError, StartupError
from sailfish.supervisor import reload_filter
from sailfish.worker import FREE, SERVING, STARTING, Board


@pytest.mark.parametrize(
    ("options", "supervised"),
    [
        pytest.param({}, False, id="one_process_by_default"),
        pytest.param({"workers": 1}, False, id="one_worker"),
        pytest.param({"workers": 2}, True, id="two_workers"),
        pytest.param({"reload": True}, True, id="reload"),
        pytest.param({"max_requests": 10}, True, id="max_requests"),
        pytest.param({"max_worker_memory": 100}, True, id="max_worker_memory"),
        pytest.param({"worker_lifetime": 60.0}, True, id="worker_lifetime"),
    ],
)
def test_what_runs_a_supervisor(options: dict[str, object], supervised: bool) -> None:
    assert Config.from_options("m:a", **options).process.supervised is supervised


def test_web_concurrency(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert Config("m:a").process.workers == 3
    assert Config.from_options("m:a", workers=2).process.workers == 2  # the flag wins
    monkeypatch.setenv("WEB_CONCURRENCY", " ")  # set but empty (compose's ${VAR}): unset
    assert Config("m:a").process.workers == 1
    monkeypatch.setenv("WEB_CONCURRENCY", "many")
    with pytest.raises(
        ConfigError, match='WEB_CONCURRENCY must be a number of workers, not "many"'
    ):
        Config("m:a").validate()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"workers": 0}, "--workers must be between 1 and 1024, not 0", id="workers_0"),
        pytest.param({"workers": 1025}, "--workers must be between 1 and 1024", id="workers_max"),
        pytest.param({"max_requests": 0}, "--max-requests must be an integer >= 1", id="max_req"),
        pytest.param(
            {"max_requests_jitter": -1}, "--max-requests-jitter must be a non-neg", id="j"
        ),
        pytest.param({"timeout_worker_healthcheck": 0}, "must be > 0 seconds", id="healthcheck"),
        pytest.param({"worker_lifetime": 0}, "--worker-lifetime must be > 0 seconds", id="life"),
        pytest.param({"uds_mode": "rw-rw----"}, "--uds-mode must be octal", id="uds_mode_text"),
        pytest.param({"uds_mode": "999"}, "--uds-mode must be octal", id="uds_mode_not_octal"),
        pytest.param({"reload_dirs": [""]}, "--reload-dir must be a list of non-empty", id="dir"),
    ],
)
def test_bad_process_settings_are_one_line_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        Config.from_options("m:a", **options).validate()


@pytest.mark.parametrize(
    ("text", "bits"),
    [(None, 0o666), ("660", 0o660), ("0660", 0o660), ("0o600", 0o600), ("1777", 0o1777)],
)
def test_uds_mode_bits(text: str | None, bits: int) -> None:
    assert sockets.uds_mode_bits(text) == bits


def test_systemd_sockets_only_for_this_process() -> None:
    pid = str(os.getpid())
    assert sockets.systemd_sockets({}) == []
    assert sockets.systemd_sockets({"LISTEN_PID": "1", "LISTEN_FDS": "1"}) == []
    assert sockets.systemd_sockets({"LISTEN_PID": pid, "LISTEN_FDS": "0"}) == []
    for count in ("x", "-1", ""):
        message = f'LISTEN_FDS must be a number of descriptors, not "{count}"'
        with pytest.raises(StartupError, match=message):
            sockets.systemd_sockets({"LISTEN_PID": pid, "LISTEN_FDS": count})


@pytest.mark.parametrize(
    "allowed", [pytest.param("", id="empty"), pytest.param(" , ", id="blank_entries")]
)
def test_proxy_protocol_needs_a_trusted_peer(allowed: str) -> None:
    config = Config.from_options("m:a", proxy_protocol=True, forwarded_allow_ips=allowed)
    with pytest.raises(ConfigError, match="--proxy-protocol needs --forwarded-allow-ips"):
        config.validate()
    Config.from_options("m:a", proxy_protocol=True, forwarded_allow_ips="unix:").validate()
    Config.from_options("m:a", forwarded_allow_ips="").validate()  # no PROXY header: fine


def test_proxy_protocol_on_a_unix_socket_needs_unix_peers_trusted() -> None:
    config = Config.from_options("m:a", proxy_protocol=True, uds="/tmp/s.sock")
    with pytest.raises(ConfigError, match='--proxy-protocol on --uds needs "unix:"'):
        config.validate()  # the default trusts 127.0.0.1 only
    for allowed in ("unix:", "10.0.0.1, unix:", "*"):
        Config.from_options(
            "m:a", proxy_protocol=True, uds="/tmp/s.sock", forwarded_allow_ips=allowed
        ).validate()


@pytest.mark.posix_only("systemd passes sockets as descriptors 3 and up")
def test_systemd_sockets_are_taken_from_descriptor_3(monkeypatch: pytest.MonkeyPatch) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    saved = os.dup(3) if _is_open(3) else None
    try:
        os.dup2(listener.fileno(), 3)
        monkeypatch.setenv("LISTEN_PID", str(os.getpid()))
        monkeypatch.setenv("LISTEN_FDS", "1")
        [passed] = sockets.systemd_sockets()
        assert passed.fileno() == 3
        assert passed.getsockname() == listener.getsockname()
        assert "LISTEN_FDS" not in os.environ and "LISTEN_PID" not in os.environ
        passed.detach()
    finally:
        if saved is not None:
            os.dup2(saved, 3)
            os.close(saved)
        else:
            os.close(3)
        listener.close()


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("path", "includes", "excludes", "reloads"),
    [
        pytest.param("/src/app.py", [], [], True, id="python_file"),
        pytest.param("/src/notes.txt", [], [], False, id="other_file"),
        pytest.param("/src/.app.py", [], [], False, id="dotfile"),
        pytest.param("/src/__pycache__/app.cpython-311.pyc", [], [], False, id="bytecode"),
        pytest.param("/src/.venv/lib/x.py", [], [], False, id="in_a_dot_directory"),
        pytest.param("/src/t.html", ["*.html"], [], True, id="included_pattern"),
        pytest.param("/src/gen/app.py", [], ["gen"], False, id="excluded_directory"),
    ],
)
def test_reload_filter(path: str, includes: list[str], excludes: list[str], reloads: bool) -> None:
    assert reload_filter(includes, excludes)(None, path) is reloads


def test_board_rows() -> None:
    board = Board(4)
    first, second = board.claim(0), board.claim(0)
    assert (first, second, board.used) == (0, 1, 2)
    board.set_pid(first, 111)
    assert board.read(first)[:2] == (111, STARTING)
    board.write(first, SERVING, 5, 10, 1 << 20, 7)
    board.write(second, SERVING, 3, 1, 0, 3)
    pid, state, beat, connections, requests, rss, accepted = board.read(first)
    assert (pid, state, connections, requests, rss, accepted) == (111, SERVING, 5, 10, 1 << 20, 7)
    now = time.monotonic()
    assert beat <= now
    assert board.fewest_connections(exclude=first, now=now) == 3
    assert board.fewest_connections(exclude=second, now=now) == 5
    assert board.fewest_connections(exclude=second, now=now + 60) is None  # stale rows
    board.expected = 3  # booting: a third worker is not serving yet
    assert board.fewest_connections(exclude=first, now=now) == 0
    board.expected = 2
    assert board.fewest_connections(exclude=first, now=now) == 3
    board.expected = 0  # booted
    board.release(second)
    assert board.read(second)[1] == FREE
    assert board.fewest_connections(exclude=first, now=now) is None
    assert board.claim(0) == second  # a free row is reused

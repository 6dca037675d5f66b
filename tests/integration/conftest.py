"""Integration fixtures: a real sailfish Server on 127.0.0.1:0, in a thread or a subprocess.

`serve(app, **options)` starts `Server(Config.from_options(app, ...)).run()` in a daemon
thread (no signal handlers there), waits until it listens, and returns a `Running` handle
(port, url, server). Every server a test started is stopped at teardown (should_exit, then a
bounded join). `serve_process(app_path, *cli_args)` runs `python -m sailfish` in a child
process, learns the port from the "Listening on" line, and kills the child at teardown if the
test did not stop it; `Process.interrupt()` is Ctrl+C (Ctrl+Break on Windows). `loop_name` is
parametrized over asyncio and uvloop for the core subset.

Helpers shared by the test modules (raw-socket reading, the apps) live in `integ_helpers.py`
and `apps/`; nothing here is imported by name from another conftest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sailfish.config import Config
from sailfish.server import Server
from waiting import poll_until

HERE = Path(__file__).parent
REPO = HERE.parent.parent

# The sailfish loggers propagate to the root logger, where caplog listens, and write nothing
# themselves (the default config would print to the test's stderr/stdout).
PROPAGATE_LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {
        "sailfish": {"level": "DEBUG", "propagate": True, "handlers": []},
        "sailfish.error": {"level": "DEBUG", "propagate": True, "handlers": []},
        "sailfish.access": {"level": "DEBUG", "propagate": True, "handlers": []},
    },
}

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


@dataclass
class Running:
    """A server running in a thread of this process."""

    server: Server
    thread: threading.Thread
    errors: list[BaseException] = field(default_factory=list)
    stopped: bool = False
    port: int = 0  # read once it listens: the socket is closed at shutdown

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def on_loop(self, function: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Call `function()` on the server's loop thread and return its result.

        For reading what only the loop thread may touch (transports, protocol state).
        """
        loop = self.server._loop
        assert loop is not None

        async def call() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout)

    def stop(self, timeout: float = STOP_TIMEOUT) -> float:
        """Ask for a graceful shutdown; returns how long the server took to stop."""
        begin = time.monotonic()
        if not self.stopped:
            self.stopped = True
            self.server.should_exit = True
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the server did not stop"
        if self.errors:
            raise self.errors[0]
        return time.monotonic() - begin


def start_server(app: Any, **options: Any) -> Running:
    options.setdefault("host", "127.0.0.1")
    options.setdefault("port", 0)
    options.setdefault("loop", "asyncio")
    options.setdefault("log_config", PROPAGATE_LOG_CONFIG)
    # A test that leaves a request running must not hang the teardown.
    options.setdefault("timeout_graceful_shutdown", 3.0)
    config = Config.from_options(app, **options)
    server = Server(config)
    running = Running(server=server, thread=threading.Thread(daemon=True))

    def target() -> None:
        try:
            server.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            running.errors.append(exc)

    running.thread = threading.Thread(target=target, name="sailfish-test-server", daemon=True)
    running.thread.start()
    poll_until(lambda: server.started or not running.thread.is_alive(), START_TIMEOUT)
    if running.errors:
        raise running.errors[0]
    if not server.started:
        server.should_exit = True
        running.thread.join(STOP_TIMEOUT)
        raise AssertionError("the server did not start")
    running.port = int(server.sockets[0].getsockname()[1])
    return running


@pytest.fixture
def serve() -> Iterator[Callable[..., Running]]:
    """Factory: `serve(app, **options)` -> a running server, stopped at teardown.

    A server configures the process's loggers (`access_log=False` disables
    `sailfish.access`): their state is put back at teardown, so no later test inherits it.
    """
    started: list[Running] = []
    loggers = [logging.getLogger(name) for name in ("sailfish.access", "sailfish.error")]
    disabled = [logger.disabled for logger in loggers]

    def factory(app: Any, **options: Any) -> Running:
        running = start_server(app, **options)
        started.append(running)
        return running

    yield factory
    errors: list[BaseException] = []
    for running in started:
        try:
            running.stop()
        except BaseException as exc:  # noqa: BLE001 - stop them all, then report
            errors.append(exc)
    for logger, was in zip(loggers, disabled, strict=True):
        logger.disabled = was
    if errors:
        raise errors[0]


def _uvloop_available() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


LOOPS = [
    pytest.param("asyncio", id="asyncio"),
    pytest.param(
        "uvloop",
        id="uvloop",
        marks=pytest.mark.skipif(not _uvloop_available(), reason="uvloop is not installed"),
    ),
]


@pytest.fixture(params=LOOPS)
def loop_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- subprocess ------------------------------------------------------------------------------------

_LISTENING = re.compile(r"Listening on https?://127\.0\.0\.1:(\d+)")


@dataclass
class Process:
    """`python -m sailfish` in a child process; stderr and stdout are collected by threads."""

    popen: subprocess.Popen[bytes]
    port: int = 0
    stderr_lines: list[str] = field(default_factory=list)
    stdout_lines: list[str] = field(default_factory=list)
    readers: list[threading.Thread] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def interrupt(self) -> None:
        """What Ctrl+C does in a terminal: SIGINT, or on Windows Ctrl+Break (Windows cannot
        send Ctrl+C to one process group; sailfish handles SIGBREAK the same way)."""
        if sys.platform == "win32":
            self.popen.send_signal(signal.CTRL_BREAK_EVENT)
        else:
            self.popen.send_signal(signal.SIGINT)

    def wait(self, timeout: float) -> int:
        code = self.popen.wait(timeout)
        for reader in self.readers:
            reader.join(timeout)
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.stderr_lines)

    def wait_for_stderr(self, text: str, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until `text` has appeared `count` times in stderr; fail saying what came."""
        if not poll_until(lambda: self.stderr.count(text) >= count, timeout):
            raise AssertionError(
                f"{text!r} not logged {count} time(s) within {timeout:g}s; stderr:\n{self.stderr}"
            )

    @property
    def stdout(self) -> str:
        return "".join(self.stdout_lines)


def _pump(stream: Any, sink: list[str]) -> None:
    for line in iter(stream.readline, b""):
        sink.append(line.decode("utf-8", "replace"))
    stream.close()


@pytest.fixture
def serve_process() -> Iterator[Callable[..., Process]]:
    """Factory: `serve_process("apps.raw:app", *cli_args)` -> a listening child process."""
    children: list[Process] = []

    def factory(
        app: str,
        *args: str,
        env: dict[str, str] | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> Process:
        child_env = dict(os.environ)
        child_env.update(env or {})
        child_env["PYTHONUNBUFFERED"] = "1"
        argv = [
            sys.executable,
            "-m",
            "sailfish",
            app,
            "--app-dir",
            str(HERE),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            *args,
        ]
        popen = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=str(REPO),
            env=child_env,
            # Windows: a group of its own, so Ctrl+Break (Process.interrupt) reaches it alone
            creationflags=getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0),
        )
        process = Process(popen=popen)
        children.append(process)
        for stream, sink in (
            (popen.stderr, process.stderr_lines),
            (popen.stdout, process.stdout_lines),
        ):
            reader = threading.Thread(target=_pump, args=(stream, sink), daemon=True)
            reader.start()
            process.readers.append(reader)
        poll_until(
            lambda: _LISTENING.search(process.stderr) or popen.poll() is not None, start_timeout
        )
        match = _LISTENING.search(process.stderr)
        if match:
            process.port = int(match.group(1))
            return process
        with contextlib.suppress(ProcessLookupError):
            popen.kill()
        popen.wait(STOP_TIMEOUT)
        raise AssertionError(f"the server process did not start:\n{process.stderr}")

    yield factory
    for process in children:
        if process.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.popen.kill()
        process.popen.wait(STOP_TIMEOUT)
        for reader in process.readers:
            reader.join(STOP_TIMEOUT)

"""A real browser against the server: headless Chromium runs a page's WebSocket exchange.

The page and the route are in apps/ws_browser.py: text, binary, a 1 MiB binary message each
way, a report of what the browser saw, and a close with 1000 from the browser. The test starts
Chromium (a throwaway profile, `--no-sandbox` only when running as root, where Chromium
refuses to start otherwise) on the page, waits for the app's `finished` event with a bound,
then ends Chromium by its process group and checks both sides' records.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

from apps.ws_browser import MIB, BrowserApp

from system import require_program

EXCHANGE_TIMEOUT = 60.0  # a cold Chromium start on a busy 2-core machine takes seconds


@contextlib.contextmanager
def chromium(url: str, profile: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Headless Chromium showing `url`; ended (its whole process group) on exit."""
    program = require_program("chromium", "chromium-browser")
    argv = [
        program,
        "--headless=new",
        f"--user-data-dir={profile}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-extensions",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--metrics-recording-only",
    ]
    if os.geteuid() == 0:
        argv.append("--no-sandbox")
    argv.append(url)
    log = open(profile.parent / "chromium.log", "wb")  # noqa: SIM115 - closed below
    browser = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
    )
    try:
        yield browser
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(browser.pid, signal.SIGTERM)
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(browser.pid, signal.SIGKILL)
            browser.wait(10)
        log.close()


def test_chromium_exchanges_text_binary_1mib_and_close(
    serve: Callable[..., object], tmp_path: Path
) -> None:
    app = BrowserApp()
    server = serve(app)
    url = f"{server.url}/"  # type: ignore[attr-defined]
    with chromium(url, tmp_path / "profile") as browser:
        finished = app.finished.wait(EXCHANGE_TIMEOUT)
        exited = browser.poll()
    chromium_log = (tmp_path / "chromium.log").read_text(errors="replace")[-3000:]
    assert exited is None, f"chromium exited early ({exited}):\n{chromium_log}"
    assert app.page_served.is_set(), f"the page was never requested:\n{chromium_log}"
    assert finished, (
        f"no websocket exchange ended within {EXCHANGE_TIMEOUT:g}s; the server received "
        f"{app.received}\n{chromium_log}"
    )
    assert app.problems == []
    kinds = [kind for kind, _ in app.received]
    assert kinds == ["text", "bytes", "bytes", "text"]  # the last one is the report
    assert [size for _, size in app.received[:3]] == [len("hello, 世界"), 256, MIB]
    assert app.report == {
        "protocol": "",
        "text": "echo: hello, 世界",
        "binaryIsBuffer": True,
        "binaryReversed": True,
        "bigLength": MIB,
        "bigEqual": True,
    }
    assert app.disconnect is not None
    assert app.disconnect["code"] == 1000
    assert app.disconnect.get("reason") == "done"

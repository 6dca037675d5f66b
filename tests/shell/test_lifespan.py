"""ASGI lifespan: startup/shutdown handshake, failures, "auto" tolerance, shared state."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from sailfish.config import Config
from sailfish.errors import StartupError
from sailfish.lifespan import LifespanOff, LifespanOn


def make(app: Any, lifespan: str = "auto", state: dict[str, Any] | None = None) -> LifespanOn:
    config = Config(app, lifespan=lifespan, proxy_headers=False)
    config.load()
    return LifespanOn(config, state)


def standard_app(events: list[str]) -> Any:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        assert scope["asgi"] == {"version": "3.0", "spec_version": "2.0"}
        message = await receive()
        assert message["type"] == "lifespan.startup"
        events.append("startup")
        scope["state"]["db"] = "connected"
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        assert message["type"] == "lifespan.shutdown"
        events.append("shutdown")
        await send({"type": "lifespan.shutdown.complete"})

    return app


def test_startup_and_shutdown(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sailfish.error")
    events: list[str] = []
    state: dict[str, Any] = {}

    async def main() -> None:
        lifespan = make(standard_app(events), state=state)
        await lifespan.startup()
        assert events == ["startup"]
        assert state == {"db": "connected"}
        assert lifespan.state is state
        await lifespan.shutdown()
        assert events == ["startup", "shutdown"]
        assert lifespan._task is not None and lifespan._task.done()

    asyncio.run(main())
    messages = [r.getMessage() for r in caplog.records if r.name == "sailfish.error"]
    assert messages == [
        "Waiting for application startup.",
        "Application startup complete.",
        "Waiting for application shutdown.",
        "Application shutdown complete.",
    ]


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_startup_failed_message(mode: str) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})
        await receive()  # stays around until cancelled

    async def main() -> None:
        with pytest.raises(StartupError, match="^application startup failed: no database$"):
            await make(app, mode).startup()

    asyncio.run(main())


def test_startup_failed_without_message() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.failed"})

    async def main() -> None:
        with pytest.raises(StartupError, match="^application startup failed$"):
            await make(app).startup()

    asyncio.run(main())


def test_shutdown_failed_message() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.failed", "message": "could not flush"})

    async def main() -> None:
        lifespan = make(app)
        await lifespan.startup()
        with pytest.raises(StartupError, match="^application shutdown failed: could not flush$"):
            await lifespan.shutdown()

    asyncio.run(main())


async def no_lifespan_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        raise RuntimeError("only http")


def test_auto_tolerates_app_without_lifespan(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sailfish.error")

    async def main() -> None:
        lifespan = make(no_lifespan_app, "auto")
        await lifespan.startup()
        await lifespan.shutdown()  # nothing to shut down

    asyncio.run(main())
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert "ASGI 'lifespan' protocol appears unsupported." in messages
    assert "Application startup complete." not in messages
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_on_requires_lifespan(caplog: pytest.LogCaptureFixture) -> None:
    async def main() -> None:
        with pytest.raises(
            StartupError,
            match="^application startup failed: the app raised RuntimeError: only http$",
        ):
            await make(no_lifespan_app, "on").startup()

    asyncio.run(main())
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert errors and errors[0].exc_info is not None  # the traceback goes to the log


def test_auto_app_raising_after_sending_is_an_error() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        raise RuntimeError("crashed after startup")

    async def main() -> None:
        lifespan = make(app, "auto")
        await lifespan.startup()
        assert lifespan._task is not None
        await asyncio.wait({lifespan._task}, timeout=5)  # the app raises right after startup
        assert lifespan.should_exit
        await lifespan.shutdown()  # returns at once: the app is gone

    asyncio.run(main())


def test_wrong_message_is_an_app_error() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.shutdown.complete"})

    async def main() -> None:
        with pytest.raises(StartupError, match="expected ASGI message"):
            await make(app, "on").startup()

    asyncio.run(main())


def test_app_raising_during_shutdown() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        raise ValueError("boom")

    async def main() -> None:
        lifespan = make(app)
        await lifespan.startup()
        with pytest.raises(StartupError, match="the app raised ValueError: boom"):
            await lifespan.shutdown()

    asyncio.run(main())


def test_app_returning_without_answer_is_tolerated() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        return

    async def main() -> None:
        lifespan = make(app, "on")
        await lifespan.startup()
        await lifespan.shutdown()

    asyncio.run(main())


def test_lingering_app_is_cancelled_after_shutdown_complete() -> None:
    cancelled = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await send({"type": "lifespan.shutdown.complete"})
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        lifespan = make(app)
        await lifespan.startup()
        await lifespan.shutdown()

    asyncio.run(main())
    assert cancelled == [True]


def test_cancelling_shutdown_cancels_the_app() -> None:
    """The server cancels a hung lifespan shutdown; the app's task must not outlive it."""
    began = asyncio.Event()
    cancelled = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "lifespan.startup.complete"})
        await receive()
        began.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    async def main() -> None:
        lifespan = make(app)
        await lifespan.startup()
        shutdown = asyncio.ensure_future(lifespan.shutdown())
        await asyncio.wait_for(began.wait(), 5)
        shutdown.cancel()
        with pytest.raises(asyncio.CancelledError):
            await shutdown
        assert lifespan._task is not None
        await asyncio.wait({lifespan._task}, timeout=5)
        assert lifespan._task.cancelled()

    asyncio.run(main())
    assert cancelled == [True]


def test_lifespan_off() -> None:
    state = {"a": 1}
    config = Config(no_lifespan_app, lifespan="off")
    off = LifespanOff(config, state)
    asyncio.run(off.startup())
    asyncio.run(off.shutdown())
    assert off.state is state and not off.should_exit
    assert LifespanOff(config).state == {}

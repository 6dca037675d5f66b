"""The ASGI lifespan protocol: run the app's startup and shutdown around serving.

Strategy: `LifespanOn` runs the app once with a "lifespan" scope in its own task, feeding it
`lifespan.startup` then `lifespan.shutdown` and waiting for the matching `.complete` or
`.failed`. Failures become `StartupError` (the CLI exits 3); the app's traceback goes to the
`sailfish.error` log, the one-line reason into the exception. With lifespan="auto", an app that
raises before sending anything is taken not to support lifespan and is tolerated. `state` is
the dict the app fills during startup; the protocol gives each request a shallow copy of it as
scope["state"]. `LifespanOff` has the same interface and does nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from sailfish.errors import StartupError

if TYPE_CHECKING:
    from sailfish.config import Config
    from sailfish.middleware import Message

logger = logging.getLogger("sailfish.error")

_EXPECTED = {
    "startup": ("lifespan.startup.complete", "lifespan.startup.failed"),
    "shutdown": ("lifespan.shutdown.complete", "lifespan.shutdown.failed"),
}


class LifespanOff:
    """No lifespan: startup and shutdown do nothing.

    Args:
        config: The server configuration (unused).
        state: The shared lifespan state; stays as given.
    """

    def __init__(self, config: Config, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.state: dict[str, Any] = {} if state is None else state
        self.should_exit = False

    async def startup(self) -> None:
        """Do nothing."""

    async def shutdown(self) -> None:
        """Do nothing."""


class LifespanOn:
    """Drive the app through the ASGI lifespan protocol.

    Args:
        config: The loaded server configuration (`config.loaded_app`, `config.lifespan`).
        state: The dict given to the app as scope["state"]; shared with every request.

    Attributes:
        should_exit: Set when the app fails after startup (the server should stop).
    """

    def __init__(self, config: Config, state: dict[str, Any] | None = None) -> None:
        self.config = config
        self.state: dict[str, Any] = {} if state is None else state
        self.should_exit = False
        self._queue: asyncio.Queue[Message] = asyncio.Queue()
        self._startup_done = asyncio.Event()
        self._shutdown_done = asyncio.Event()
        self._phase = "startup"
        self._sent_any = False
        self._startup_failed = False
        self._startup_complete = False
        self._shutdown_failed = False
        self._error: BaseException | None = None
        self._message = ""
        self._task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        """Send `lifespan.startup` and wait for the app's answer.

        Raises:
            StartupError: the app sent `lifespan.startup.failed`, or it raised before
                answering while lifespan is "on".
        """
        logger.info("Waiting for application startup.")
        self._task = asyncio.get_running_loop().create_task(self._main())
        await self._queue.put({"type": "lifespan.startup"})
        await self._startup_done.wait()

        if self._startup_failed:
            await self._finish_task(timeout=0.5)
            reason = f": {self._message}" if self._message else ""
            raise StartupError(f"application startup failed{reason}")
        if self._startup_complete:
            logger.info("Application startup complete.")
        elif self._error is not None and self.config.lifespan == "on":
            raise StartupError(
                f"application startup failed: the app raised {_describe(self._error)}"
            )
        elif self._error is None:  # the app returned without answering: nothing to do
            logger.info("Application startup complete.")

    async def shutdown(self) -> None:
        """Send `lifespan.shutdown` and wait for the app's answer.

        Does nothing if the app does not support lifespan or has already failed. Cancelling
        it (the server does, on a further signal) cancels the app's lifespan task too.

        Raises:
            StartupError: the app sent `lifespan.shutdown.failed`, or raised while
                shutting down.
        """
        if self._error is not None or self._task is None:
            return
        logger.info("Waiting for application shutdown.")
        self._phase = "shutdown"
        await self._queue.put({"type": "lifespan.shutdown"})
        try:
            await self._shutdown_done.wait()
            await self._finish_task(timeout=1.0)
        except asyncio.CancelledError:
            self._task.cancel()  # it ends on its next step; nothing waits for it any more
            raise

        if self._shutdown_failed:
            reason = f": {self._message}" if self._message else ""
            raise StartupError(f"application shutdown failed{reason}")
        if self._error is not None:
            raise StartupError(
                f"application shutdown failed: the app raised {_describe(self._error)}"
            )
        logger.info("Application shutdown complete.")

    async def _finish_task(self, timeout: float) -> None:
        task = self._task
        if task is None or task.done():
            return
        # The app answered; give it a moment to return before cancelling it.
        await asyncio.wait({task}, timeout=timeout)
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _main(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": self.config.asgi_version, "spec_version": "2.0"},
            "state": self.state,
        }
        try:
            await self.config.loaded_app(scope, self._receive, self._send)
        except asyncio.CancelledError:
            raise  # cancelled by us after shutdown.complete, or by the loop closing
        except BaseException as exc:
            self._error = exc
            if self._startup_failed or self._shutdown_failed:
                pass  # the app already said why; its exception adds nothing
            elif self.config.lifespan == "auto" and not self._sent_any:
                logger.info("ASGI 'lifespan' protocol appears unsupported.")
                logger.debug("The lifespan app raised:", exc_info=exc)
            else:
                logger.error("Exception in 'lifespan' protocol", exc_info=exc)
                if self._phase == "shutdown" or self._startup_done.is_set():
                    self.should_exit = True
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
        finally:
            self._startup_done.set()
            self._shutdown_done.set()

    async def _receive(self) -> Message:
        return await self._queue.get()

    async def _send(self, message: Message) -> None:
        kind = message.get("type")
        if self._phase == "startup" and self._startup_done.is_set():
            raise RuntimeError(f"unexpected ASGI message {kind!r} after startup, before shutdown")
        expected = _EXPECTED[self._phase]
        if kind not in expected:
            raise RuntimeError(
                f"expected ASGI message {' or '.join(map(repr, expected))}, got {kind!r}"
            )
        self._sent_any = True
        self._message = str(message.get("message", "") or "")
        if kind == "lifespan.startup.complete":
            self._startup_complete = True
        elif kind == "lifespan.startup.failed":
            self._startup_failed = True
        elif kind == "lifespan.shutdown.failed":
            self._shutdown_failed = True
        if self._phase == "startup":
            self._startup_done.set()
        else:
            self._shutdown_done.set()


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = ["LifespanOff", "LifespanOn"]

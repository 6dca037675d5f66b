"""An event loop with the gaps of Windows' proactor loop, so that Linux tests the fallbacks.

`new_loop()` makes a selector loop whose public `add_reader`, `add_writer` and
`add_signal_handler` (and their removers) raise NotImplementedError, as `ProactorEventLoop`'s
do. Its own servers and transports work as before: they use the loop's private methods.
Used as `--loop apps.windows_loop:new_loop` (or `loop=` in a Config).
"""

from __future__ import annotations

import asyncio
from typing import Any


class ProactorLikeLoop(asyncio.SelectorEventLoop):
    def add_reader(self, fd: Any, callback: Any, *args: Any) -> None:
        raise NotImplementedError

    def remove_reader(self, fd: Any) -> bool:
        raise NotImplementedError

    def add_writer(self, fd: Any, callback: Any, *args: Any) -> None:
        raise NotImplementedError

    def remove_writer(self, fd: Any) -> bool:
        raise NotImplementedError

    def add_signal_handler(self, sig: int, callback: Any, *args: Any) -> None:
        raise NotImplementedError

    def remove_signal_handler(self, sig: int) -> bool:
        raise NotImplementedError


def new_loop() -> asyncio.AbstractEventLoop:
    return ProactorLikeLoop()

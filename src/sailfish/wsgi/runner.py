"""WSGI apps on a bounded thread pool: the worker-thread side of one request.

Strategy: the event loop never runs WSGI code. A request's `Call` is handed to `WorkerPool`,
whose threads run `Call.run`: the app, `start_response`, the returned iterable and its `close()`.
Output crosses back through an outbox (a deque) that the loop drains with one callback: the
first item appended schedules it (`call_soon_threadsafe`), later ones ride along, so a small
response (head, body, end) costs the loop one wake-up and goes out as one write. Items are the
start message (a dict, as ASGI's `http.response.start`), body chunks (bytes), `None` (the end)
or an exception (the app failed: a 500 if nothing was sent, else the response is cut). The
thread waits only when more than HIGH_WATER bytes are unacknowledged (`acked`, written by the
loop) and wakes when the loop acknowledges or the client is gone (`gone`). The request body
comes in through `WSGIInput`, which the loop feeds and the thread reads. Both the server's own
protocol (sailfish.protocols.wsgi) and `WSGIMiddleware` consume Calls; nothing here touches a
socket or a transport.
"""

from __future__ import annotations

import logging
import os
import re
import select
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any

from sailfish._compat import NO_EXTENSIONS, REQUIRE_EXTENSIONS, SENDFILE_UNSUPPORTED

__all__ = [
    "Call",
    "ClientGone",
    "FileWrapper",
    "HIGH_WATER",
    "LogStream",
    "SENDFILE",
    "SendFile",
    "WSGIInput",
    "WorkerPool",
    "base_environ",
    "EMPTY_INPUT",
    "EmptyInput",
    "empty_input",
]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

# os.sendfile for wsgi.file_wrapper needs both (not on Windows).
SENDFILE = hasattr(os, "sendfile") and hasattr(select, "poll")

# The thread stops producing while this many bytes wait to be written (and the loop stops
# reading a request body past it: see WSGIInput).
HIGH_WATER = 65536

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# Field values: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5); CR, LF and NUL are never allowed.
_BAD_VALUE = re.compile(rb"[^\t\x20-\x7e\x80-\xff]")
# "a Status-Code and a Reason-Phrase, in that order and separated by a single space" -- PEP 3333
# (the reason may be empty, as RFC 9112 §4 allows).
_STATUS = re.compile(r"([2-5][0-9][0-9]) ([\t\x20-\x7e\x80-\xff]*)")
# "Applications and middleware are forbidden from using HTTP/1.1 "hop-by-hop" features or
# headers ... Servers should check for this" -- PEP 3333; the names are wsgiref's, and
# Proxy-Connection (RFC 9110 §7.6.1 names it among the connection-specific fields).
_HOP_BY_HOP = frozenset(
    (
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    )
)
_NO_BODY_STATUS = frozenset((204, 205, 304))  # the writer sends no content for these


class ClientGone(OSError):
    """Raised into the app (by `write()` or `wsgi.input`) once the client has gone."""


class _Crew:
    """One generation of a pool's threads: their queue and counts (under `lock`)."""

    def __init__(self) -> None:
        self.queue: SimpleQueue[Any] = SimpleQueue()  # a job, a list of jobs, or None
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()
        self.idle = 0  # started threads waiting for a job
        self.waiting = 0  # jobs submitted and not yet taken by a thread


class WorkerPool:
    """A fixed number of worker threads, started as they are needed, and a job queue.

    Jobs past the busy threads wait in the queue, in order; `backlog` says how many wait.
    A thread is started only when no started thread is idle, up to `threads`. `shutdown`
    lets the current threads end after their queued jobs; a later submit starts new ones.

    Args:
        threads: The most threads that run jobs at once.
        name: Thread name prefix.
    """

    def __init__(self, threads: int, name: str = "sailfish-wsgi") -> None:
        if threads < 1:
            raise ValueError("a worker pool needs at least one thread")
        self.size = threads
        self.name = name
        self.crew = _Crew()

    @property
    def threads(self) -> list[threading.Thread]:
        """The current threads."""
        return self.crew.threads

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job()` on a worker thread (queued while every thread is busy)."""
        self.submit_many([job])

    def submit_many(self, jobs: list[Callable[[], None]]) -> None:
        """Run each of `jobs` on a worker thread: one hand-over (one thread woken) for all.

        The thread that takes them runs the first and puts the rest back first, so each
        idle thread that wakes takes the next one: they still run in parallel, but the
        wake-ups happen on the worker threads, not on the event loop's.
        """
        crew = self.crew
        with crew.lock:
            crew.waiting += len(jobs)
            if crew.idle == 0 and len(crew.threads) < self.size:
                self._start(crew)
        crew.queue.put(jobs[0] if len(jobs) == 1 else jobs)

    def _start(self, crew: _Crew) -> None:
        # Called with the lock held. Counted idle now: the next submit must not start another.
        crew.idle += 1
        thread = threading.Thread(
            target=self._work, args=(crew,), name=f"{self.name}-{len(crew.threads)}", daemon=True
        )
        crew.threads.append(thread)
        thread.start()

    @property
    def backlog(self) -> int:
        """Jobs that wait for a thread."""
        return self.crew.waiting

    def _work(self, crew: _Crew) -> None:
        _batch_policy()
        get = crew.queue.get
        put = crew.queue.put
        lock = crew.lock
        while True:
            job = get()
            with lock:
                crew.idle -= 1
                if job is None:
                    if crew.waiting:  # jobs put back behind the stop signal: run them first
                        put(None)
                        crew.idle += 1
                        continue
                    return
                crew.waiting -= 1
                if type(job) is list:
                    jobs = job
                    job = jobs.pop(0)
                    if jobs:
                        put(jobs[0] if len(jobs) == 1 else jobs)
                # More jobs wait and no thread is free for them (a submit that found a thread
                # counted idle, before it took its job, started none): start the next one.
                if crew.waiting and crew.idle == 0 and len(crew.threads) < self.size:
                    if crew is self.crew:
                        self._start(crew)
            job()
            with lock:
                crew.idle += 1

    def shutdown(self, timeout: float | None = None) -> None:
        """Let the threads end once the queued jobs are done; wait up to `timeout` seconds.

        The pool stays usable: the next submit starts a new set of threads.
        """
        crew, self.crew = self.crew, _Crew()
        for _ in crew.threads:
            crew.queue.put(None)
        if timeout is None or timeout > 0:
            for thread in crew.threads:
                thread.join(timeout)


def _batch_policy() -> None:
    """Put the calling thread under SCHED_BATCH (Linux): its wake-ups never preempt the thread
    that runs. A worker woken by a hand-over needs the GIL, which the event loop's thread holds
    until it next waits: preempting the loop would only switch back to it at once (two context
    switches for nothing). Where the policy is missing or refused, nothing changes."""
    try:
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    except (AttributeError, OSError):
        pass


class LogStream:
    """`wsgi.errors`: a text stream whose lines go to a logger (at ERROR).

    One stream serves every request; the unfinished line is kept per thread, so the requests
    that the pool runs at once never mix their halves of a line.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self.local = threading.local()

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"wsgi.errors is a text stream: write() takes str, not {text!r}")
        local = self.local
        lines = (getattr(local, "partial", "") + text).split("\n")
        local.partial = lines.pop()
        for line in lines:
            self.logger.error("%s", line)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        local = self.local
        partial = getattr(local, "partial", "")
        if partial:
            local.partial = ""
            self.logger.error("%s", partial)


class FileWrapper:
    """`wsgi.file_wrapper`: iterate a file in blocks (PEP 3333 "Optional Platform-Specific
    File Handling"); `close()` closes the file."""

    def __init__(self, filelike: Any, blksize: int = 8192) -> None:
        self.filelike = filelike
        self.blksize = blksize
        if hasattr(filelike, "close"):
            self.close = filelike.close

    def __iter__(self) -> Iterator[bytes]:
        read = self.filelike.read
        while True:
            block = read(self.blksize)
            if not block:
                return
            yield block

    def fileno(self) -> int | None:
        """The file's descriptor when it is a regular file sendfile can read, else None."""
        try:
            fd = self.filelike.fileno()
            import stat

            return fd if stat.S_ISREG(os.fstat(fd).st_mode) else None
        except (AttributeError, OSError, ValueError):
            return None


def base_environ(logger: logging.Logger, multiprocess: bool = False) -> dict[str, Any]:
    """The environ keys every request of one server shares (build_environ copies them)."""
    return {
        "wsgi.version": (1, 0),
        "wsgi.errors": LogStream(logger),
        "wsgi.multithread": True,
        "wsgi.multiprocess": multiprocess,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
        "wsgi.file_wrapper": FileWrapper,
    }


class WSGIInput:
    """`wsgi.input`: the request body as it arrives, read by the app's thread.

    The loop calls `feed` (bytes, and whether they are the last) and `abort` (the body will
    never be whole). Reads block until they can be answered: `read(n)` until n bytes or the
    end, `readline` until a newline, the size or the end; never past the end.

    Args:
        on_first_read: Called (from the app's thread) before the first read that has to
            wait for bytes: sends `100 Continue` when the client asked for it.
        on_taken: Called (from the app's thread) with a count of bytes taken, at least
            every HIGH_WATER // 2 bytes and before every wait, for read flow control.
    """

    def __init__(
        self,
        on_first_read: Callable[[], None] | None = None,
        on_taken: Callable[[int], None] | None = None,
    ) -> None:
        self.lock = threading.Condition(threading.Lock())
        self.buffer = bytearray()
        self.done = False
        self.failed = False
        self.on_first_read = on_first_read
        self.on_taken = on_taken
        self.untold = 0

    # -- the loop's side ----------------------------------------------------------------------

    def feed(self, data: bytes, last: bool) -> None:
        with self.lock:
            self.buffer += data
            if last:
                self.done = True
            self.lock.notify()

    def abort(self) -> None:
        with self.lock:
            self.failed = True
            self.lock.notify()

    # -- the app's side ------------------------------------------------------------------------

    def _take(self, size: int) -> bytes:
        # Called with the lock held.
        buffer = self.buffer
        data = bytes(buffer[:size])
        del buffer[:size]
        self.untold += len(data)
        return data

    def _wait(self) -> None:
        """Wait for more bytes (lock held); raises ClientGone if they will never come."""
        if self.failed:
            raise ClientGone("the client disconnected before the request body was complete")
        if self.on_first_read is not None:
            callback, self.on_first_read = self.on_first_read, None
            callback()
        self._tell()
        self.lock.wait()
        if self.failed and not self.done:
            raise ClientGone("the client disconnected before the request body was complete")

    def _tell(self) -> None:
        if self.untold and self.on_taken is not None:
            untold, self.untold = self.untold, 0
            self.on_taken(untold)

    def read(self, size: int | None = -1) -> bytes:
        # What a read gathers leaves the buffer before each wait, so the loop may go on
        # reading past HIGH_WATER for a read that asks for more than that.
        with self.lock:
            if size is None or size < 0:
                size = -1
            elif len(self.buffer) >= size or (self.done and self.buffer):
                return self._finish(self._take(size))
            parts = bytearray()
            while True:
                want = len(self.buffer) if size < 0 else size - len(parts)
                parts += self._take(want)
                if (size >= 0 and len(parts) >= size) or self.done:
                    return self._finish(bytes(parts))
                self._wait()

    def readline(self, size: int | None = -1) -> bytes:
        with self.lock:
            limit = -1 if size is None or size < 0 else size
            parts = bytearray()
            while True:
                room = len(self.buffer) if limit < 0 else min(len(self.buffer), limit - len(parts))
                end = self.buffer.find(b"\n", 0, room)
                if end >= 0:
                    parts += self._take(end + 1)
                    return self._finish(bytes(parts))
                parts += self._take(room)
                if (limit >= 0 and len(parts) >= limit) or self.done:
                    return self._finish(bytes(parts))
                self._wait()

    def _finish(self, data: bytes) -> bytes:
        if self.untold >= HIGH_WATER // 2:
            self._tell()
        return data

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        lines: list[bytes] = []
        total = 0
        while True:
            line = self.readline()
            if not line:
                return lines
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line

    def close(self) -> None:
        """Nothing to release; here for apps that close their input."""


class EmptyInput:
    """`wsgi.input` of a request without a body: every read is b"" at once. Stateless, so one
    instance serves every such request (no lock to make per request)."""

    def read(self, size: int | None = -1) -> bytes:
        return b""

    def readline(self, size: int | None = -1) -> bytes:
        return b""

    def readlines(self, hint: int | None = -1) -> list[bytes]:
        return []

    def __iter__(self) -> Iterator[bytes]:
        return iter(())

    def close(self) -> None:
        pass

    def feed(self, data: bytes, last: bool) -> None:
        pass

    def abort(self) -> None:
        pass


EMPTY_INPUT = EmptyInput()


def empty_input() -> EmptyInput:
    return EMPTY_INPUT


class SendFile:
    """An outbox item: the head of a file response, then the socket for os.sendfile.

    The loop starts the response with `message`, writes the head, sets `sock` to a duplicate
    of the socket's descriptor (or leaves it None: send plain chunks) and sets `ready`.
    """

    def __init__(self, message: dict[str, Any], count: int) -> None:
        self.message = message
        self.count = count
        self.sock: int | None = None
        self.ready = threading.Event()


def _no_delivery() -> None:
    """A finished call's `deliver`."""


class Call:
    """One request's WSGI call: run on a worker thread, output drained by the loop.

    Args:
        app: The WSGI application.
        environ: The request's environ (with `wsgi.input`).
        loop: The event loop that owns the connection.
        deliver: The loop-side callback that drains `outbox`; it must set `scheduled` to
            False before taking items.
        logger: Where app errors go.
        head: The request is HEAD (the body is produced but dropped, and not counted).
    """

    __slots__ = (
        "acked",
        "app",
        "count",
        "counted",
        "deliver",
        "ended",
        "environ",
        "file_sent",
        "gone",
        "head",
        "headers_sent",
        "length",
        "logger",
        "loop",
        "message",
        "outbox",
        "scheduled",
        "sendfile",
        "sent",
        "writable",
    )

    def __init__(
        self,
        app: WSGIApp,
        environ: dict[str, Any],
        loop: Any,
        deliver: Callable[[], None],
        logger: logging.Logger,
        head: bool = False,
        sendfile: bool = False,
    ) -> None:
        self.app = app
        self.environ = environ
        self.loop = loop
        self.deliver = deliver
        self.logger = logger
        self.head = head
        self.sendfile = sendfile  # the consumer takes SendFile items (a plain socket)
        self.outbox: deque[Any] = deque()
        self.scheduled = False
        self.message: dict[str, Any] | None = None  # the start message, once given
        self.headers_sent = False
        self.ended = False  # the end of the response is in the outbox
        self.length: int | None = None  # the app's Content-Length
        self.count = 0  # body bytes produced
        self.file_sent = 0  # body bytes this thread sent itself, with os.sendfile
        self.counted = True  # the body is counted against length (not HEAD, 204, 205, 304)
        self.sent = 0  # bytes handed to the loop (this thread writes it)
        self.acked = 0  # bytes the loop has written on (the loop writes it)
        self.gone = False  # the loop says: produce nothing more
        self.writable: threading.Event | None = None  # made by the thread when it must wait

    # -- the worker thread ---------------------------------------------------------------------

    def run(self) -> None:
        """Run the app and stream its response into the outbox. Never raises."""
        result: Any = None
        try:
            result = self.app(self.environ, self.start_response)
            if type(result) is list or type(result) is tuple:
                self._send_all(result)
            elif type(result) is FileWrapper and self.sendfile and self._send_file(result):
                pass
            else:
                for chunk in result:
                    if self.gone:
                        break
                    if chunk:
                        self._send(chunk)
                else:
                    if not self.ended:
                        self._end()
        except BaseException as exc:
            self._failed(exc)
            if not isinstance(exc, Exception):
                raise
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    self.logger.error("Exception in WSGI application's close()", exc_info=exc)
            # Nothing is pushed after this: drop the references back to the consumer, which
            # holds this call (a reference cycle per request would leave every request's
            # objects to the cyclic collector).
            self.deliver = _no_delivery
            stream = self.environ.get("wsgi.input")
            if type(stream) is WSGIInput:
                stream.on_first_read = stream.on_taken = None

    def _send_file(self, wrapper: FileWrapper) -> bool:
        """Send a regular file's bytes with os.sendfile; False to iterate the wrapper instead.

        The loop writes the head (announcing the Content-Length: the app's, else the file's
        size from its position) and hands over a duplicate of the socket's descriptor, so a
        closed connection can never make this write into a reused descriptor; the transport
        writes nothing meanwhile (this response is the connection's only one in progress).
        If the loop cannot hand the socket over, the bytes follow as plain chunks.
        """
        fd = wrapper.fileno()
        message = self.message
        if fd is None or message is None or not self.counted:
            return False
        try:
            offset = wrapper.filelike.tell()
            size = os.fstat(fd).st_size - offset
        except (AttributeError, OSError, ValueError):
            return False
        count = self.length if self.length is not None else size
        if count > size:
            return False  # the app promises more than the file has: the iteration fails
        if self.length is None:
            message["headers"].append((b"content-length", str(count).encode("ascii")))
            self.length = count
        plan = SendFile(message, count)
        self.headers_sent = True
        self._push(plan)
        while not plan.ready.wait(1.0):
            if self.gone:
                raise ClientGone("the client disconnected")
        if plan.sock is None:
            if self.gone:
                raise ClientGone("the client disconnected")
            return False  # plain chunks after the head, as the loop asked
        sent = 0
        refused = False
        try:
            poller = select.poll()
            poller.register(plan.sock, select.POLLOUT)
            while sent < count and not self.gone:
                try:
                    n = os.sendfile(plan.sock, fd, offset + sent, count - sent)
                except BlockingIOError:
                    poller.poll(1000)
                    continue
                except OSError as exc:
                    # This socket or file cannot do it (see SENDFILE_UNSUPPORTED): before the
                    # first byte, the wrapper's iteration sends the body instead.
                    refused = sent == 0 and exc.errno in SENDFILE_UNSUPPORTED
                    break
                if n == 0:
                    break  # the file shrank
                sent += n
        finally:
            os.close(plan.sock)
        if refused:
            return False  # sendfile moved no file position: the iteration starts at `offset`
        self.count = self.file_sent = sent
        if sent < count:
            raise ClientGone(f"sendfile stopped after {sent} of {count} bytes")
        self.ended = True
        self._push(None)
        return True

    def _failed(self, exc: BaseException) -> None:
        if self.gone and isinstance(exc, ClientGone):
            self.logger.debug("WSGI application stopped after a disconnect: %r", exc)
        else:
            self.logger.error("Exception in WSGI application", exc_info=exc)
        self._push(exc)

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        """PEP 3333 `start_response`: check and remember the status and headers.

        Raises:
            the exc_info exception, if given after the headers were sent; RuntimeError if
            called twice without exc_info; TypeError or ValueError for a status or header
            that is not a latin-1 native string without control characters, a status
            without its space and reason, or a hop-by-hop header.
        """
        if exc_info is not None:
            try:
                if self.headers_sent:
                    # "if exc_info is provided, and the HTTP headers have already been sent,
                    # start_response must raise an error" -- PEP 3333
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self.message is not None:
            raise RuntimeError("start_response() was called twice without exc_info")
        self.message = _start_message(status, headers)
        code = self.message["status"]
        self.counted = not self.head and code not in _NO_BODY_STATUS
        self.length = self.message.pop("length")
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333's `write()` callable: send `data` now (the headers first)."""
        if self.message is None:
            raise RuntimeError("write() called before start_response()")
        if self.gone:
            raise ClientGone("the client disconnected")
        if data:
            self._send(data)

    def _chunk(self, chunk: Any) -> bytes:
        data: bytes = chunk
        if type(chunk) is not bytes:
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise TypeError(
                    f"a WSGI response body yields bytes, not {type(chunk).__name__} (PEP 3333)"
                )
            data = bytes(chunk)
        if self.counted:
            self.count += len(data)
            if self.length is not None and self.count > self.length:
                raise ValueError(
                    f"the WSGI application sent more than its Content-Length ({self.length})"
                )
        return data

    def _head(self) -> dict[str, Any]:
        message = self.message
        if message is None:
            raise RuntimeError("the WSGI application returned without calling start_response()")
        self.headers_sent = True
        return message

    def _send(self, chunk: Any) -> None:
        data = self._chunk(chunk)
        if self.ended:
            return  # the response is complete already (see below); more was an error
        if not self.headers_sent:
            self.outbox.append(self._head())
        self.sent += len(data)
        if self.count == self.length and self.counted:
            # The declared Content-Length is reached: the end goes with the last bytes, so a
            # one-chunk response is one hand-over (and one write) whatever its iterable.
            self.outbox.append(data)
            self.ended = True
            self._push(None)
            return
        self._push(data)
        if self.sent - self.acked > HIGH_WATER:
            self._wait_writable()

    def _wait_writable(self) -> None:
        writable = self.writable
        if writable is None:
            # Made only now: most responses never wait. The loop sets it once it is here, and
            # the checks below come after it is here, so no acknowledgement is missed.
            writable = self.writable = threading.Event()
        while self.sent - self.acked > HIGH_WATER and not self.gone:
            writable.clear()
            if self.sent - self.acked > HIGH_WATER and not self.gone:
                writable.wait()
        if self.gone:
            raise ClientGone("the client disconnected")

    def _send_all(self, chunks: list[Any] | tuple[Any, ...]) -> None:
        """A list or tuple is already in memory: everything goes in one hand-over."""
        if len(chunks) == 1:
            body = self._chunk(chunks[0])
        else:
            body = b"".join([self._chunk(chunk) for chunk in chunks])
        self._check_length()
        outbox = self.outbox
        if not self.headers_sent:
            outbox.append(self._head())
        if body:
            outbox.append(body)
        self._push(None)

    def _end(self) -> None:
        self._check_length()
        if not self.headers_sent:
            self.outbox.append(self._head())
        self._push(None)

    def _check_length(self) -> None:
        if self.counted and self.length is not None and self.count < self.length:
            raise ValueError(
                f"the WSGI application sent {self.count} bytes, less than its "
                f"Content-Length ({self.length})"
            )

    def _push(self, item: Any) -> None:
        self.outbox.append(item)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon_threadsafe(self.deliver)

    # -- the loop --------------------------------------------------------------------------------

    def ack(self, size: int) -> None:
        """The loop has written `size` more bytes on (the transport is not paused)."""
        self.acked += size
        writable = self.writable
        if writable is not None:
            writable.set()

    def stop(self) -> None:
        """The client is gone or the response failed: the thread stops producing."""
        self.gone = True
        writable = self.writable
        if writable is not None:
            writable.set()


# Checked headers by (name, value) as the app gave them, and status codes by status line:
# validation is paid once per distinct header or status. Bounded (apps may vary values).
_CHECKED: dict[tuple[str, str], tuple[tuple[bytes, bytes], int | None]] = {}
_STATUSES: dict[str, tuple[int, bytes | None]] = {}  # code, reason when not the standard one
_CHECKED_MAX = 1024


def _start_message(status: Any, headers: Any) -> dict[str, Any]:
    """The http.response.start message of a WSGI status and header list, checked.

    A reason phrase other than the standard one for the code goes in the message's `reason`
    (a key of sailfish's writer), so the status line is the app's.
    """
    checked_status = _STATUSES.get(status) if type(status) is str else None
    if checked_status is None:
        checked_status = _check_status(status)
    code, reason = checked_status
    if not isinstance(headers, list):
        raise TypeError(f"headers must be a list, not {type(headers).__name__}")
    pairs = []
    length: int | None = None
    cache = _CHECKED
    for item in headers:
        checked = cache.get(item) if type(item) is tuple else None
        if checked is None:
            checked = _check_header(item)
        pair, item_length = checked
        if item_length is not None:
            if length is not None:
                if item_length != length:
                    raise ValueError(f"two Content-Length values: {length}, {item_length}")
                continue  # the same value again: sent once (a proxy may refuse a repeat)
            length = item_length
        pairs.append(pair)
    message = {"type": "http.response.start", "status": code, "headers": pairs, "length": length}
    if reason is not None:
        message["reason"] = reason
    return message


def _check_status(status: Any) -> tuple[int, bytes | None]:
    if not isinstance(status, str):
        raise TypeError(f"status must be a str, not {type(status).__name__}")
    match = _STATUS.fullmatch(status)
    if match is None:
        raise ValueError(f"invalid status {status!r} (expected '<200-599> <reason>')")
    code = int(match.group(1))
    try:
        standard = HTTPStatus(code).phrase
    except ValueError:
        standard = ""
    text = match.group(2)
    checked = (code, None if text == standard else text.encode("latin-1"))
    if type(status) is str and len(_STATUSES) < _CHECKED_MAX:
        _STATUSES[status] = checked
    return checked


def _check_header(item: Any) -> tuple[tuple[bytes, bytes], int | None]:
    """((name, value) as bytes, the Content-Length or None) of one checked header."""
    if type(item) is not tuple or len(item) != 2:
        raise TypeError(f"each header must be a (name, value) tuple, not {item!r}")
    name, value = item
    if not isinstance(name, str) or not isinstance(value, str):
        raise TypeError(f"header names and values must be str: {item!r}")
    try:
        raw_name = name.encode("latin-1")
        raw_value = value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"header {name!r} is not latin-1") from None
    if _TOKEN.fullmatch(raw_name) is None:
        raise ValueError(f"invalid header name {name!r}")
    if _BAD_VALUE.search(raw_value) is not None:
        raise ValueError(f"invalid header value for {name!r} (control character)")
    lower = raw_name.lower()
    if lower in _HOP_BY_HOP:
        raise ValueError(f"hop-by-hop header {name!r}: the server owns the connection (PEP 3333)")
    length: int | None = None
    if lower == b"content-length":
        if not raw_value.isdigit():
            raise ValueError(f"invalid Content-Length {value!r}")
        length = int(raw_value)
    checked = ((raw_name, raw_value), length)
    if len(_CHECKED) < _CHECKED_MAX and type(name) is str and type(value) is str:
        _CHECKED[item] = checked
    return checked


# setup.py also compiles this file (with runner.pxd: Call becomes an extension type) into
# sailfish._shell.runner. Unless SAILFISH_NO_EXTENSIONS=1, the compiled classes replace the ones
# above, so that every importer (the protocol, WSGIMiddleware, the config's pool) uses one set,
# as sailfish.protocols picks the compiled shell. The copy itself is named otherwise and stops
# here.
if not TYPE_CHECKING and __name__ == "sailfish.wsgi.runner" and not NO_EXTENSIONS:
    try:
        from sailfish._shell.runner import *  # noqa: F403
    except ImportError:
        if REQUIRE_EXTENSIONS:
            raise

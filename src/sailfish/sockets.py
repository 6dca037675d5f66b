"""Listening sockets: bind from the config, take them from systemd, or make one per worker.

Strategy: every listening socket the server or the supervisor serves is made here, before any
app code runs, and every failure is a `StartupError` naming the address. Three sources, first
match wins: an inherited `--fd`; sockets passed by systemd socket activation (`LISTEN_FDS` and
`LISTEN_PID`, read once and removed from the environment so no child mistakes them for its
own); else a bind to `--uds` (with `--uds-mode` permissions) or `--host`/`--port`. For worker
processes on Linux, `bind_reuse_port()` makes one more `SO_REUSEPORT` listener on the address of
the first, one per worker. Nothing here starts serving; `listen()` is the caller's to call.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sailfish.errors import StartupError

if TYPE_CHECKING:
    from sailfish.config import Config

AF_UNIX: int | None = getattr(socket, "AF_UNIX", None)
SD_LISTEN_FDS_START = 3  # sd_listen_fds(3): the first passed descriptor
DEFAULT_UDS_MODE = 0o666
MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req"


def reason(exc: OSError) -> str:
    """An OSError's text, lower-cased first letter, for "could not ...: <reason>"."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:]


def display_address(host: str, port: int) -> str:
    """host:port, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass
class Listeners:
    """The listening sockets of one server and what must be cleaned up after them.

    Attributes:
        sockets: The listening sockets.
        uds_path: The unix socket path we created (unlinked at shutdown), if any.
        inherited: Where they came from when not bound here: "fd" or "systemd".
    """

    sockets: list[socket.socket] = field(default_factory=list)
    uds_path: str | None = None
    inherited: str | None = None

    def close(self) -> None:
        """Close the sockets and remove the unix socket file we made."""
        for sock in self.sockets:
            sock.close()
        if self.uds_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.uds_path)
            self.uds_path = None


def systemd_sockets(environ: Mapping[str, str] | None = None) -> list[socket.socket]:
    """The sockets systemd passed (socket activation), or [] if it passed none to us.

    As sd_listen_fds(3) with unset_environment: the descriptors start at 3, count
    `LISTEN_FDS`, and count only if `LISTEN_PID` is this process (a child that inherited the
    variables is not their addressee). The variables are removed from `os.environ`.

    Args:
        environ: The environment to read (default `os.environ`); for tests.

    Raises:
        StartupError: LISTEN_FDS is not a number, or a descriptor is not a socket.
    """
    env = os.environ if environ is None else environ
    pid, count = env.get("LISTEN_PID"), env.get("LISTEN_FDS")
    if environ is None:
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            os.environ.pop(name, None)
    if pid is None or count is None or pid.strip() != str(os.getpid()):
        return []
    try:
        number = int(count)
    except ValueError:
        number = -1
    if number < 0:
        raise StartupError(f'LISTEN_FDS must be a number of descriptors, not "{count}"')
    sockets: list[socket.socket] = []
    for fd in range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + number):
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            for made in sockets:
                made.close()
            raise StartupError(
                f"LISTEN_FDS: descriptor {fd} is not a socket: {reason(exc)}"
            ) from exc
        sock.set_inheritable(False)
        sockets.append(sock)
    return sockets


def uds_mode_bits(text: str | None) -> int:
    """`--uds-mode` text ("660", "0660", "0o660") as permission bits; None: 0o666."""
    if text is None:
        return DEFAULT_UDS_MODE
    digits = text[2:] if text.startswith("0o") else text
    return int(digits, 8)


def bind(config: Config, *, reuse_port: bool = False) -> Listeners:
    """The listening sockets the config names (see the module docstring for the order).

    Args:
        config: Reads `fd`, `uds`, `process.uds_mode`, `host` and `port`.
        reuse_port: Bind host:port with SO_REUSEPORT (for `bind_reuse_port()` siblings).

    Raises:
        StartupError: a descriptor is unusable or an address cannot be bound.
    """
    if config.fd is not None:
        try:
            return Listeners([socket.socket(fileno=config.fd)], inherited="fd")
        except OSError as exc:
            raise StartupError(f"could not use socket fd {config.fd}: {reason(exc)}") from exc
    passed = systemd_sockets()
    if passed:
        return Listeners(passed, inherited="systemd")
    if config.uds is not None:
        sock = bind_unix(config.uds, uds_mode_bits(config.process.uds_mode))
        return Listeners([sock], uds_path=config.uds)
    return Listeners([bind_tcp(config.host, config.port, reuse_port=reuse_port)])


def bind_tcp(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A TCP socket bound to host:port (SO_REUSEADDR off Windows; SO_REUSEPORT if asked).

    Raises:
        StartupError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sys.platform != "win32":  # on Windows SO_REUSEADDR lets others steal the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = display_address(host, port)
        raise StartupError(f"could not bind to {where}: {reason(exc)}") from exc
    return sock


def bind_reuse_port(first: socket.socket) -> socket.socket:
    """Another SO_REUSEPORT listener on the address `first` (made with reuse_port) is bound to.

    Raises:
        StartupError: the address cannot be bound again.
    """
    host, port = first.getsockname()[:2]
    return bind_tcp(host, port, reuse_port=True)


def reuse_port_available(sockets: list[socket.socket]) -> bool:
    """Whether per-worker SO_REUSEPORT listeners can serve these sockets.

    Linux only (elsewhere SO_REUSEPORT does not balance), and only for one TCP socket that we
    bound ourselves: an inherited or unix socket is shared instead.
    """
    return (
        sys.platform.startswith("linux")
        and hasattr(socket, "SO_REUSEPORT")
        and len(sockets) == 1
        and sockets[0].family in (socket.AF_INET, socket.AF_INET6)
    )


def migrate_req_enabled() -> bool:
    """Whether Linux moves a closing SO_REUSEPORT listener's queue to a sibling (5.14+)."""
    try:
        with open(MIGRATE_REQ, encoding="ascii") as file:
            return file.read().strip() == "1"
    except OSError:
        return False


def bind_unix(path: str, mode: int = DEFAULT_UDS_MODE) -> socket.socket:
    """A unix stream socket bound to `path` with permissions `mode`; a stale file is replaced.

    Raises:
        StartupError: the path holds something else, someone listens there, or bind fails.
    """
    assert AF_UNIX is not None  # Config.validate() refuses --uds where there is no AF_UNIX
    where = f"unix socket {path}"
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.stat(path).st_mode):
            raise StartupError(f"could not bind to {where}: a file that is not a socket exists")
        probe = socket.socket(AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)  # stale: nobody listens on it any more
        else:
            raise StartupError(f"could not bind to {where}: address already in use")
        finally:
            probe.close()
    sock = socket.socket(AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        os.chmod(path, mode)
    except OSError as exc:
        sock.close()
        raise StartupError(f"could not bind to {where}: {reason(exc)}") from exc
    return sock


def describe(sock: socket.socket, inherited: str | None = None, *, secure: bool = False) -> str:
    """How the "Listening on" line names a socket (https:// when it serves TLS)."""
    if AF_UNIX is not None and sock.family == AF_UNIX:
        return f"unix socket {sock.getsockname()}"
    if inherited == "fd":
        return f"socket fd {sock.fileno()}"
    host, port = sock.getsockname()[:2]
    return f"{'https' if secure else 'http'}://{display_address(host, port)}"


__all__ = [
    "Listeners",
    "bind",
    "bind_reuse_port",
    "bind_tcp",
    "bind_unix",
    "describe",
    "migrate_req_enabled",
    "reuse_port_available",
    "systemd_sockets",
    "uds_mode_bits",
]

"""The `sailfish` command line: options -> Config -> Server.run(); the only place that exits.

Strategy: one click command whose options map one-to-one onto `Config.from_options` keyword
names, each readable from a SAILFISH_* environment variable (`auto_envvar_prefix`). Defaults
come from the config dataclasses so they are written once. `main()` is the process boundary:
usage and config errors print one line and return 2, startup failures one line and return 3,
never with a traceback; an exception from the app itself keeps its traceback.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from sailfish.config import INTERFACE_CHOICES, LIFESPAN_CHOICES, Config, Limits, Timeouts
from sailfish.errors import ConfigError, StartupError
from sailfish.logging import LOG_LEVELS
from sailfish.loops import LOOP_CHOICES

EXIT_USAGE = 2
EXIT_STARTUP = 3


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from sailfish.__main__ import version_line

    click.echo(version_line())
    ctx.exit(0)


@click.command(
    context_settings={"auto_envvar_prefix": "SAILFISH", "show_default": True},
    help="Serve the ASGI application APP, given as module:attribute (e.g. main:app).",
)
@click.argument("app", envvar="SAILFISH_APP")
@click.option("--host", default="127.0.0.1", show_envvar=True, help="Address to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_envvar=True,
    help="Port to bind; 0 picks a free one.",
)
@click.option(
    "--uds",
    type=str,
    default=None,
    show_envvar=True,
    help="Bind to this unix socket path instead of host and port.",
)
@click.option(
    "--fd",
    type=click.IntRange(min=0),
    default=None,
    show_envvar=True,
    help="Serve on this already bound socket file descriptor.",
)
@click.option(
    "--loop",
    type=click.Choice(LOOP_CHOICES),
    default="auto",
    show_envvar=True,
    help="Event loop; auto prefers uvloop.",
)
@click.option(
    "--lifespan",
    type=click.Choice(LIFESPAN_CHOICES),
    default="auto",
    show_envvar=True,
    help="ASGI lifespan: auto uses it when the app supports it.",
)
@click.option(
    "--interface",
    type=click.Choice(INTERFACE_CHOICES),
    default="auto",
    show_envvar=True,
    help="Application interface.",
)
@click.option(
    "--factory",
    is_flag=True,
    default=False,
    show_envvar=True,
    help="APP is a callable that returns the application.",
)
@click.option(
    "--root-path",
    default="",
    show_envvar=True,
    help="ASGI root_path, for an app mounted below a path prefix.",
)
@click.option(
    "--proxy-headers/--no-proxy-headers",
    default=True,
    show_envvar=True,
    help="Take the client address and scheme from Forwarded / X-Forwarded-* "
    "sent by a trusted proxy.",
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    show_envvar=True,
    help="Trusted proxies: comma-separated IPs, networks, '*' or 'unix:' "
    "[default: $FORWARDED_ALLOW_IPS or 127.0.0.1].",
)
@click.option(
    "--timeout-keep-alive",
    type=click.FloatRange(min=0),
    default=Timeouts.keep_alive,
    show_envvar=True,
    help="Close idle keep-alive connections after this many seconds.",
)
@click.option(
    "--timeout-header-read",
    type=click.FloatRange(min=0, min_open=True),
    default=Timeouts.header_read,
    show_envvar=True,
    help="Close a connection whose request head takes longer than this.",
)
@click.option(
    "--timeout-graceful-shutdown",
    type=click.FloatRange(min=0),
    default=None,
    show_envvar=True,
    help="On shutdown, cancel what still runs after this many seconds.",
)
@click.option(
    "--limit-concurrency",
    type=click.IntRange(min=1),
    default=None,
    show_envvar=True,
    help="Answer 503 beyond this many connections or tasks.",
)
@click.option(
    "--backlog",
    type=click.IntRange(min=1),
    default=Limits.backlog,
    show_envvar=True,
    help="Listen backlog.",
)
@click.option(
    "--max-request-line",
    type=click.IntRange(min=1),
    default=Limits.max_request_line,
    show_envvar=True,
    help="Longest request line in bytes (414 beyond).",
)
@click.option(
    "--max-header-size",
    type=click.IntRange(min=1),
    default=Limits.max_header_size,
    show_envvar=True,
    help="Largest header section in bytes (431 beyond).",
)
@click.option(
    "--max-headers",
    type=click.IntRange(min=1),
    default=Limits.max_headers,
    show_envvar=True,
    help="Most header fields (431 beyond).",
)
@click.option(
    "--max-body-size",
    type=click.IntRange(min=0),
    default=None,
    show_envvar=True,
    help="Largest request body in bytes (413 beyond); no limit by default.",
)
@click.option(
    "--max-chunk-ext-size",
    type=click.IntRange(min=0),
    default=Limits.max_chunk_ext_size,
    show_envvar=True,
    help="Longest chunk extension in bytes (400 beyond).",
)
@click.option(
    "--max-trailer-size",
    type=click.IntRange(min=0),
    default=Limits.max_trailer_size,
    show_envvar=True,
    help="Largest trailer section in bytes (431 beyond).",
)
@click.option(
    "--header",
    "headers",
    multiple=True,
    show_envvar=True,
    help='Add a response header to every response: "name:value" (repeatable).',
)
@click.option(
    "--server-header/--no-server-header",
    default=True,
    show_envvar=True,
    help="Send the server header.",
)
@click.option(
    "--date-header/--no-date-header", default=True, show_envvar=True, help="Send the date header."
)
@click.option(
    "--log-level",
    type=click.Choice(list(LOG_LEVELS), case_sensitive=False),
    default="info",
    show_envvar=True,
    help="Log level of the sailfish loggers.",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_envvar=True,
    help="Log one line per response.",
)
@click.option(
    "--log-config",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    show_envvar=True,
    help="Logging configuration: .json, .yaml/.yml or .ini file.",
)
@click.option(
    "--app-dir",
    default=".",
    show_envvar=True,
    help="Look for APP in this directory (put first on sys.path).",
)
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    show_envvar=True,
    help="Load KEY=VALUE lines into the environment first.",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and which core is active.",
)
def command(app: str, **options: Any) -> None:
    """Serve APP (module:attribute)."""
    from sailfish.server import Server

    options["headers"] = list(options["headers"])
    Server(Config.from_options(app, **options)).run()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code.

    Args:
        argv: The arguments, without the program name; None reads sys.argv.

    Returns:
        0 on a clean shutdown, 2 for usage and configuration errors, 3 for startup failures
        (bind, lifespan), 130 when interrupted before the server could handle signals.
    """
    try:
        result = command.main(args=argv, prog_name="sailfish", standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 130
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        click.echo(f"Error: {_one_line(exc)}", err=True)
        return EXIT_USAGE
    except StartupError as exc:
        click.echo(f"Error: {_one_line(exc)}", err=True)
        return EXIT_STARTUP
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

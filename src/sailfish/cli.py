"""The `sailfish` command line: options -> Config -> Server.run(); the only place that exits.

Strategy: one click command whose options are built from the options table
(`sailfish.options.OPTIONS`): flag, type, default, help and environment variables come from
there, so the CLI cannot drift from `Config`. click parses types; the table validates values
(`Config.validate()`), so a bad value reads the same from the CLI, the environment or
`sailfish.run()`. `main()` is the process boundary: usage and config errors print one line and
return 2, startup failures one line and return 3, never with a sailfish traceback; an app
module that raises while importing gets its own traceback above the line.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from sailfish.config import Config
from sailfish.errors import ConfigError, StartupError
from sailfish.importer import AppImportError
from sailfish.options import OPTIONS, Option

EXIT_USAGE = 2
EXIT_STARTUP = 3

F = TypeVar("F", bound=Callable[..., Any])

_CLICK_TYPES: dict[str, click.ParamType[Any]] = {
    "int": click.INT,
    "float": click.FLOAT,
    "str": click.STRING,
    "any": click.STRING,
}


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from sailfish.__main__ import version_line

    click.echo(version_line())
    ctx.exit(0)


def _lower(_ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def click_option(opt: Option) -> Callable[[F], F]:
    """The click option for one entry of the table."""
    kwargs: dict[str, Any] = {"help": opt.help, "show_envvar": True}
    if len(opt.envvars) > 1:  # the automatic SAILFISH_<NAME> plus others: list them all
        kwargs["envvar"] = list(opt.envvars)
    if opt.kind == "bool":
        kwargs["default"] = opt.default
        if "/" not in opt.cli_flag:
            kwargs["is_flag"] = True
    elif opt.multiple:
        kwargs["multiple"] = True
    else:
        kwargs["default"] = opt.default
        if opt.path:
            kwargs["type"] = click.Path(exists=True, dir_okay=False)
        else:
            kwargs["type"] = _CLICK_TYPES[opt.kind]
        if opt.metavar is not None:
            kwargs["metavar"] = opt.metavar
        elif opt.choices:
            kwargs["metavar"] = f"[{'|'.join(opt.choices)}]"
        elif opt.unit == "seconds":
            kwargs["metavar"] = "SECONDS"
        if opt.none_means is not None or opt.env_fallback is not None:
            kwargs["show_default"] = opt.default_text()
    if not opt.case_sensitive:
        kwargs["callback"] = _lower
    return click.option(opt.cli_flag, opt.name, **kwargs)


def _with_table_options(function: F) -> F:
    for opt in reversed(OPTIONS):
        function = click_option(opt)(function)
    return function


@click.command(
    context_settings={"auto_envvar_prefix": "SAILFISH", "show_default": True},
    help="Serve the ASGI application APP, given as module:attribute (e.g. main:app).",
)
@click.argument("app", envvar="SAILFISH_APP")
@_with_table_options
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
    from sailfish import supervisor

    options["headers"] = list(options["headers"])
    config = Config.from_options(app, **options)
    config.validate()
    supervisor.run(config)  # this process's Server, or workers under a supervisor


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the process exit code.

    Args:
        argv: The arguments, without the program name; None reads sys.argv.

    Returns:
        0 on a clean shutdown, 2 for usage and configuration errors, 3 for startup failures
        (bind, lifespan, an app module that raises while importing), 130 when interrupted
        before the server could handle signals.
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
        if isinstance(exc, AppImportError) and exc.__cause__ is not None:
            cause = exc.__cause__
            traceback.print_exception(type(cause), cause, cause.__traceback__, file=sys.stderr)
        click.echo(f"Error: {_one_line(exc)}", err=True)
        return EXIT_STARTUP
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

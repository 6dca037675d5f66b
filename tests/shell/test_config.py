"""Config: defaults, validation messages, from_options, env files, and load()."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from sailfish.config import Config, HTTPSettings, Limits, Timeouts, load_env_file, parse_header
from sailfish.errors import ConfigError
from sailfish.importer import ImportFromStringError
from sailfish.middleware import ASGI2Middleware


async def asgi3_app(scope: Any, receive: Any, send: Any) -> None:
    scope["seen"] = True


def asgi2_app(scope: Any) -> Any:
    async def instance(receive: Any, send: Any) -> None:
        scope["seen"] = "asgi2"

    return instance


class ASGI2Class:
    def __init__(self, scope: Any) -> None:
        self.scope = scope

    async def __call__(self, receive: Any, send: Any) -> None:
        self.scope["seen"] = "class"


class ASGI3Instance:
    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        scope["seen"] = "instance"


def app_factory() -> Any:
    return asgi3_app


def test_defaults() -> None:
    config = Config("main:app")
    assert (config.host, config.port, config.uds, config.fd) == ("127.0.0.1", 8000, None, None)
    assert (config.loop, config.lifespan, config.interface) == ("auto", "auto", "auto")
    assert config.http == HTTPSettings(True, True, [])
    assert config.limits == Limits()
    assert config.limits.max_request_line == 8190 and config.limits.backlog == 2048
    assert config.timeouts == Timeouts(5.0, 10.0, None)
    assert config.root_path == "" and config.access_log is True
    config.validate()


def test_forwarded_allow_ips_default_reads_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert Config("m:a").forwarded_allow_ips == "127.0.0.1"
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    assert Config("m:a").forwarded_allow_ips == "10.0.0.0/8"
    assert Config("m:a", forwarded_allow_ips="*").forwarded_allow_ips == "*"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"port": 70000}, "--port must be between 0 and 65535", id="port_too_big"),
        pytest.param({"port": "80"}, "--port must be an integer", id="port_not_int"),
        pytest.param({"host": ""}, "--host must be", id="empty_host"),
        pytest.param({"uds": "/tmp/x", "fd": 3}, "--uds and --fd cannot", id="uds_and_fd"),
        pytest.param({"fd": -1}, "--fd must be a non-negative", id="negative_fd"),
        pytest.param({"loop": "trio"}, "--loop must be one of", id="unknown_loop"),
        pytest.param({"lifespan": "yes"}, "--lifespan must be one of auto, on, off", id="lifespan"),
        pytest.param({"interface": "wsgi3"}, "--interface must be one of", id="interface"),
        pytest.param({"root_path": "api"}, '--root-path must start with "/"', id="root_relative"),
        pytest.param({"root_path": "/api/"}, "--root-path must not end", id="root_trailing"),
        pytest.param({"log_level": "loud"}, "--log-level must be one of", id="log_level"),
        pytest.param({"max_headers": 0}, "--max-headers must be an integer >= 1", id="headers"),
        pytest.param({"max_body_size": -1}, "--max-body-size must be", id="body_negative"),
        pytest.param({"limit_concurrency": 0}, "--limit-concurrency must be", id="concurrency"),
        pytest.param({"backlog": True}, "--backlog must be an integer", id="backlog_bool"),
        pytest.param({"timeout_keep_alive": -1}, "--timeout-keep-alive must be >= 0", id="ka"),
        pytest.param({"timeout_header_read": 0}, "--timeout-header-read must be > 0", id="hr"),
        pytest.param({"timeout_write": -0.5}, "--timeout-write must be >= 0", id="write"),
        pytest.param({"timeout_write": "1"}, "must be a number of seconds", id="write_str"),
        pytest.param(
            {"timeout_graceful_shutdown": "1"}, "must be a number of seconds", id="graceful_str"
        ),
    ],
)
def test_validate_says_what_is_wrong(kwargs: dict[str, Any], message: str) -> None:
    config = Config.from_options("m:a", **kwargs)
    with pytest.raises(ConfigError, match=message) as info:
        config.validate()
    assert "\n" not in str(info.value)


def test_validate_requires_app() -> None:
    with pytest.raises(ConfigError, match="APP is required"):
        Config("  ").validate()


def test_validate_accepts_none_limits_and_zero_keep_alive() -> None:
    Config.from_options(
        "m:a", max_body_size=None, limit_concurrency=None, timeout_keep_alive=0
    ).validate()


def test_from_options_groups_flat_names() -> None:
    config = Config.from_options(
        "m:a",
        port=9000,
        limit_concurrency=10,
        timeout_keep_alive=1.5,
        timeout_graceful_shutdown=3,
        max_body_size=1024,
        server_header=False,
        headers=["X-Frame-Options: DENY", ("x-a", "b"), (b"X-B", b"c")],
    )
    assert config.port == 9000
    assert config.limits.concurrency == 10 and config.limits.max_body_size == 1024
    assert config.timeouts.keep_alive == 1.5 and config.timeouts.graceful_shutdown == 3
    assert config.http.server_header is False and config.http.date_header is True
    assert config.http.default_headers == [
        (b"x-frame-options", b"DENY"),
        (b"x-a", b"b"),
        (b"x-b", b"c"),
    ]


def test_from_options_rejects_unknown_option() -> None:
    with pytest.raises(ConfigError, match='unknown option "reloader"'):
        Config.from_options("m:a", reloader=True)


def test_from_options_accepts_groups() -> None:
    limits = Limits(max_headers=5)
    assert Config.from_options("m:a", limits=limits).limits is limits


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("novalue", 'must be in format "name:value"', id="no_colon"),
        pytest.param("bad name: x", "the name must be a non-empty token", id="space_in_name"),
        pytest.param(": x", "the name must be a non-empty token", id="empty_name"),
        pytest.param("x-a: a\rb", "must not contain CR, LF", id="cr_in_value"),
        pytest.param("x-a: a\x00b", "must not contain CR, LF", id="nul_in_value"),
        pytest.param("x-a: \u2603", "must be Latin-1", id="not_latin1"),
    ],
)
def test_parse_header_rejects(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_header(text)


def test_parse_header_strips_and_lowercases() -> None:
    assert parse_header("X-Powered-By :  sailfish ") == (b"x-powered-by", b"sailfish")
    assert parse_header("x-empty:") == (b"x-empty", b"")


def test_http_settings_validate_checks_pairs() -> None:
    with pytest.raises(ConfigError, match="must be a \\(bytes, bytes\\) pair"):
        HTTPSettings(default_headers=[("x", "y")]).validate()  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="must not contain CR"):
        HTTPSettings(default_headers=[(b"x", b"a\nb")]).validate()


# -- load() ------------------------------------------------------------------------------


def loaded(app: Any, **kwargs: Any) -> Any:
    config = Config.from_options(app, proxy_headers=False, **kwargs)
    config.load()
    assert config.loaded
    return config.loaded_app


async def call(app: Any) -> dict[str, Any]:
    scope: dict[str, Any] = {"type": "http"}

    async def receive() -> Any:
        return {}

    async def send(message: Any) -> None:
        pass

    await app(scope, receive, send)
    return scope


def test_load_asgi3_function_is_unwrapped() -> None:
    assert loaded(asgi3_app) is asgi3_app


def test_load_detects_asgi3_partial_and_instance() -> None:
    partial = functools.partial(asgi3_app)
    assert loaded(partial) is partial
    instance = ASGI3Instance()
    assert loaded(instance) is instance


@pytest.mark.parametrize(
    ("app", "seen"),
    [
        pytest.param(asgi2_app, "asgi2", id="function"),
        pytest.param(ASGI2Class, "class", id="class"),
    ],
)
def test_load_wraps_asgi2(app: Any, seen: str) -> None:
    wrapped = loaded(app)
    assert isinstance(wrapped, ASGI2Middleware)
    assert asyncio.run(call(wrapped))["seen"] == seen


def test_interface_can_be_forced() -> None:
    assert isinstance(loaded(asgi3_app, interface="asgi2"), ASGI2Middleware)
    assert loaded(asgi2_app, interface="asgi3") is asgi2_app


def test_factory_is_called() -> None:
    assert loaded(app_factory, factory=True) is asgi3_app


def test_factory_without_flag_gives_a_hint() -> None:
    with pytest.raises(
        ConfigError, match="takes no arguments; if it returns the app, pass --factory"
    ):
        loaded(app_factory)


def test_factory_flag_on_non_callable() -> None:
    with pytest.raises(ConfigError, match="--factory: sailfish:__version__ is not callable"):
        loaded("sailfish:__version__", factory=True)


def test_non_callable_app() -> None:
    with pytest.raises(ConfigError, match='"?sailfish:__version__"? is not an ASGI application'):
        loaded("sailfish:__version__")


def test_load_bad_import_string_is_a_config_error() -> None:
    with pytest.raises(ImportFromStringError):
        loaded("sf_no_such_module_at_all:app")


def test_load_sets_up_trusted_proxies_for_the_protocol() -> None:
    config = Config(asgi3_app, forwarded_allow_ips="10.0.0.1, 10.1.0.0/16")
    config.load()
    assert config.loaded_app is asgi3_app  # no middleware: the protocol applies proxy headers
    assert config.trusted_proxies is not None
    assert "10.1.2.3" in config.trusted_proxies
    assert "10.2.0.1" not in config.trusted_proxies


def test_no_proxy_headers_means_no_trusted_proxies() -> None:
    config = Config(asgi3_app, proxy_headers=False, forwarded_allow_ips="*")
    config.load()
    assert config.trusted_proxies is None


def test_load_is_idempotent() -> None:
    config = Config(asgi3_app)
    config.load()
    first = config.loaded_app
    config.load()
    assert config.loaded_app is first


def test_load_uses_app_dir_and_env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sf_cfg_app.py").write_text(
        "import os\nGREETING = os.environ['SF_TEST_GREETING']\n"
        "async def app(scope, receive, send):\n    pass\n"
    )
    env = tmp_path / ".env"
    env.write_text("# comment\n\nexport SF_TEST_GREETING='hi there'\nSF_TEST_KEEP=new\n")
    monkeypatch.setenv("SF_TEST_KEEP", "old")
    monkeypatch.delenv("SF_TEST_GREETING", raising=False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    try:
        config = Config("sf_cfg_app:app", app_dir=str(tmp_path), env_file=str(env))
        config.load()
        assert sys.modules["sf_cfg_app"].GREETING == "hi there"
        assert os.environ["SF_TEST_KEEP"] == "old"  # already set: not overridden
    finally:
        sys.modules.pop("sf_cfg_app", None)


def test_env_file_parsing(tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text('A=1\nB = "two words"\nC=\nD=x=y\n')
    assert load_env_file(str(env)) == {"A": "1", "B": "two words", "C": "", "D": "x=y"}


def test_env_file_errors(tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text("A=1\nnot a pair\n")
    with pytest.raises(ConfigError, match="line 2: expected KEY=VALUE"):
        load_env_file(str(env))
    with pytest.raises(ConfigError, match="--env-file .*missing"):
        load_env_file(str(tmp_path / "missing"))


# -- interface detection: asgi_version, WSGI refused -----------------------------------------


@pytest.mark.parametrize(
    ("app", "version"),
    [
        pytest.param(asgi3_app, "3.0", id="asgi3_function"),
        pytest.param(ASGI3Instance(), "3.0", id="asgi3_instance"),
        pytest.param(asgi2_app, "2.0", id="asgi2_function"),
        pytest.param(ASGI2Class, "2.0", id="asgi2_class"),
    ],
)
def test_load_stores_the_asgi_version(app: Any, version: str) -> None:
    config = Config.from_options(app, proxy_headers=False)
    assert config.asgi_version == "3.0"  # before load()
    config.load()
    assert config.asgi_version == version


def test_forced_interface_sets_the_asgi_version() -> None:
    config = Config(asgi3_app, interface="asgi2")
    config.load()
    assert config.asgi_version == "2.0"


def wsgi_function(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b""]


class WSGIClass:  # PEP 3333: "an application object may be ... a class"
    def __init__(self, environ: Any, start_response: Any) -> None:
        self.environ = environ

    def __iter__(self) -> Any:
        return iter([b""])


class WSGIInstance:
    def __call__(self, env: Any, start_fn: Any) -> list[bytes]:
        return [b""]


def test_asgi2_with_a_default_second_parameter_is_still_asgi2() -> None:
    def app(scope: Any, extra: Any = None) -> Any:
        return asgi2_app(scope)

    assert isinstance(loaded(app), ASGI2Middleware)


@pytest.mark.parametrize(
    ("app", "reason"),
    [
        pytest.param(wsgi_function, "it takes (environ, start_response)", id="function"),
        pytest.param(WSGIClass, "it takes (environ, start_response)", id="class"),
        pytest.param(WSGIInstance(), "it takes (env, start_fn)", id="instance"),
    ],
)
def test_wsgi_apps_are_refused_with_interface_auto(app: Any, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        loaded(app)
    assert str(info.value) == (
        f"APP looks like a WSGI application ({reason}); serve it with --interface wsgi"
    )


def test_args_only_callable_is_refused_with_both_choices() -> None:
    def wrapper(*args: Any, **kwargs: Any) -> Any:  # a decorator without functools.wraps
        return wsgi_function(*args, **kwargs)

    with pytest.raises(ConfigError) as info:
        loaded(wrapper)
    assert str(info.value) == (
        "APP takes *args, so it may be WSGI or ASGI 2; "
        "serve it with --interface wsgi or --interface asgi2"
    )
    assert isinstance(loaded(wrapper, interface="asgi2"), ASGI2Middleware)
    assert loaded(wrapper, interface="wsgi") is not None


def test_flask_app_is_refused() -> None:
    flask = pytest.importorskip("flask")
    with pytest.raises(ConfigError, match=r"\(it has a wsgi_app method, as Flask"):
        loaded(flask.Flask("sf_test"))


def test_django_wsgi_handler_is_refused() -> None:
    wsgi = pytest.importorskip("django.core.handlers.wsgi")
    # Built without __init__, which needs configured settings (the integration tests' own).
    handler = wsgi.WSGIHandler.__new__(wsgi.WSGIHandler)
    with pytest.raises(ConfigError, match="it is Django's WSGIHandler; use django.core.asgi"):
        loaded(handler)


def test_forced_asgi2_skips_the_wsgi_check() -> None:
    assert isinstance(loaded(wsgi_function, interface="asgi2"), ASGI2Middleware)


def test_settings_are_keyword_only() -> None:
    with pytest.raises(TypeError):
        Config("m:a", "0.0.0.0")  # type: ignore[misc]
    assert Config(app="m:a", port=1).port == 1


def test_two_required_arguments_are_never_taken_for_asgi2() -> None:
    def app(a: Any, b: Any) -> Any:
        return [b""]

    with pytest.raises(ConfigError) as info:
        loaded(app)
    assert str(info.value) == (
        "APP looks like a WSGI application (it requires two arguments (a, b)); "
        "serve it with --interface wsgi"
    )


@pytest.mark.parametrize("threads", [1, 10, 1024])
def test_interface_wsgi(threads: int) -> None:
    from sailfish.wsgi import WSGIMiddleware

    config = Config.from_options(wsgi_function, interface="wsgi", wsgi_threads=threads)
    config.validate()
    config.load()
    assert isinstance(config.loaded_app, WSGIMiddleware)
    assert config.wsgi.app is wsgi_function
    assert config.wsgi.pool.size == threads
    assert config.loaded_app.pool is config.wsgi.pool  # one pool for both paths
    assert config.wsgi.pool.threads == []  # started on first use, not at load


@pytest.mark.parametrize("threads", [0, 1025, -1])
def test_wsgi_threads_out_of_range(threads: int) -> None:
    config = Config.from_options(wsgi_function, interface="wsgi", wsgi_threads=threads)
    with pytest.raises(ConfigError, match="--wsgi-threads"):
        config.validate()


@pytest.mark.parametrize("workers", [1, 4])
def test_wsgi_multiprocess_follows_the_worker_count(workers: int) -> None:
    config = Config.from_options(wsgi_function, interface="wsgi", workers=workers)
    config.load()
    assert config.wsgi.base["wsgi.multiprocess"] is (workers > 1)
    assert config.loaded_app.base["wsgi.multiprocess"] is (workers > 1)
    assert config.wsgi.base["wsgi.multithread"] is True


def test_interface_wsgi_keyword_of_config() -> None:
    config = Config(app=wsgi_function, interface="wsgi")
    config.load()
    assert config.wsgi is not None and config.wsgi.pool.size == 10

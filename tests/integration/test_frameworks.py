"""Real frameworks on a real server: Starlette, FastAPI, Django (ASGI), Quart, through httpx."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from apps.raw import pattern
from integ_helpers import Closed, Conn, request

TIMEOUT = 5.0
Serve = Callable[..., Any]


@pytest.fixture
def client_for() -> Iterator[Callable[[Any], httpx.Client]]:
    clients: list[httpx.Client] = []

    def factory(running: Any) -> httpx.Client:
        client = httpx.Client(base_url=running.url, timeout=TIMEOUT)
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.close()


# -- Starlette -------------------------------------------------------------------------------------


@pytest.fixture
def starlette(serve: Serve, loop_name: str) -> tuple[Any, Any]:
    from apps.starlette_app import make_app

    app, recorder = make_app()
    return serve(app, loop=loop_name), recorder


def test_starlette_routes_params_query_json(
    starlette: tuple[Any, Any], client_for: Callable[[Any], httpx.Client]
) -> None:
    running, _ = starlette
    client = client_for(running)
    assert client.get("/").text == "home"
    assert client.get("/items/42").json() == {"item_id": 42, "type": "int"}
    assert client.get("/items/abc").status_code == 404

    response = client.get("/query/a%20b/c", params=[("a", "1"), ("b", "x"), ("b", "y z")])
    assert response.json() == {
        "single": "1",
        "multi": ["x", "y z"],
        "path": "/query/a b/c",
        "raw_path": "/query/a%20b/c",
        "client_host": "127.0.0.1",
    }
    response = client.post("/json", json={"b": [1, 2], "a": {"nested": "ü"}})
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"received": {"b": [1, 2], "a": {"nested": "ü"}}, "keys": ["a", "b"]}
    assert client.post("/").status_code == 405
    assert client.get("/nowhere").status_code == 404


def test_starlette_streaming_response(
    starlette: tuple[Any, Any], client_for: Callable[[Any], httpx.Client]
) -> None:
    running, _ = starlette
    client = client_for(running)
    with client.stream("GET", "/stream", params={"n": "20"}) as response:
        assert response.headers["transfer-encoding"] == "chunked"
        lines = list(response.iter_lines())
    assert lines == [f"line {i}" for i in range(20)]


def test_starlette_exception_is_500_and_server_goes_on(starlette: tuple[Any, Any]) -> None:
    """Starlette sends its 500 and then re-raises: the response is complete and well framed,
    so a pipelined request behind it is answered, or at worst the connection ends cleanly
    (FIN), never with a reset that can destroy what was sent."""
    running, _ = starlette
    with Conn(running.port) as conn:
        conn.send(request("GET", "/boom") + request("GET", "/"))
        response = conn.read_response()
        assert response.status == 500
        assert response.body == b"Internal Server Error"
        try:
            second = conn.read_response()
        except Closed as exc:
            assert exc.buffered == b""  # a clean close between responses is allowed
        else:
            assert second.body == b"home"
    with Conn(running.port) as conn:
        conn.send(request("GET", "/"))
        assert conn.read_response().body == b"home"


def test_starlette_multipart_upload(
    serve: Serve, client_for: Callable[[Any], httpx.Client]
) -> None:
    from apps.starlette_app import make_app

    app, _ = make_app()
    client = client_for(serve(app))
    content = pattern(1024 * 1024 + 3)
    response = client.post(
        "/upload",
        data={"field": "value ☃"},
        files={"file": ("data.bin", content, "application/x-test")},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "field": "value ☃",
        "filename": "data.bin",
        "content_type": "application/x-test",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
    }
    response = client.post("/form", data={"a": ["1", "2"], "b": "three"})
    assert response.json() == {"a": ["1", "2"], "b": ["three"]}


def test_starlette_large_request_body(
    serve: Serve, client_for: Callable[[Any], httpx.Client]
) -> None:
    from apps.starlette_app import make_app

    app, _ = make_app()
    client = client_for(serve(app))
    body = pattern(5 * 1024 * 1024)
    response = client.post("/body", content=body)
    assert response.json() == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 100_000):
            yield body[i : i + 100_000]

    response = client.post("/body", content=chunks())  # chunked upload
    assert response.json() == {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def test_starlette_background_task_runs_after_the_response(
    serve: Serve, client_for: Callable[[Any], httpx.Client]
) -> None:
    from apps.starlette_app import make_app

    app, recorder = make_app()
    running = serve(app)
    client = client_for(running)
    begin = time.monotonic()
    response = client.get("/background")
    elapsed = time.monotonic() - begin
    assert response.text == "scheduled"
    # The response was flushed when the body was complete, not when the app returned.
    assert elapsed < 0.4, elapsed  # the task sleeps 0.5 s
    assert not recorder.background_done.is_set()
    assert client.get("/").text == "home"  # the connection serves on meanwhile
    assert recorder.background_done.wait(3)


def test_starlette_lifespan_state_reaches_request_state(
    serve: Serve, client_for: Callable[[Any], httpx.Client]
) -> None:
    from apps.starlette_app import make_app

    app, recorder = make_app()
    running = serve(app, lifespan="on")
    client = client_for(running)
    assert recorder.lifespan == ["startup"]
    assert client.get("/state").json() == {"greeting": "hello from lifespan", "hits": 1}
    # each request gets a shallow copy: the same shared objects inside
    assert client.get("/state").json() == {"greeting": "hello from lifespan", "hits": 2}
    client.close()
    running.stop()
    assert recorder.lifespan == ["startup", "shutdown"]


def test_starlette_lifespan_off(serve: Serve, client_for: Callable[[Any], httpx.Client]) -> None:
    from apps.starlette_app import make_app

    app, recorder = make_app()
    running = serve(app, lifespan="off")
    client = client_for(running)
    assert client.get("/state").json() == {"greeting": None, "hits": None}
    client.close()
    running.stop()
    assert recorder.lifespan == []


# -- FastAPI ---------------------------------------------------------------------------------------


@pytest.fixture
def fastapi_client(serve: Serve, client_for: Callable[[Any], httpx.Client]) -> httpx.Client:
    from apps.fastapi_app import app

    return client_for(serve(app))


def test_fastapi_pydantic_json_in_and_out(fastapi_client: httpx.Client) -> None:
    response = fastapi_client.post("/items", json={"name": "pen", "price": 2.5, "tags": ["a"]})
    assert response.status_code == 200
    assert response.json() == {"name": "pen", "price": 2.5, "tags": ["a"], "price_with_tax": 3.0}
    assert fastapi_client.get("/items/7", params={"q": "x"}).json() == {"item_id": 7, "q": "x"}
    assert fastapi_client.get("/sync").json() == {"sync": "ok"}


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"name": "pen"}, id="missing-field"),
        pytest.param({"name": "", "price": 1}, id="too-short"),
        pytest.param({"name": "pen", "price": -1}, id="negative"),
        pytest.param({"name": "pen", "price": "cheap"}, id="wrong-type"),
    ],
)
def test_fastapi_invalid_input_is_422(fastapi_client: httpx.Client, payload: Any) -> None:
    response = fastapi_client.post("/items", json=payload)
    assert response.status_code == 422
    assert response.json()["detail"]


def test_fastapi_malformed_json_and_bad_path_param_are_422(fastapi_client: httpx.Client) -> None:
    response = fastapi_client.post(
        "/items", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert fastapi_client.get("/items/not-a-number").status_code == 422


def test_fastapi_dependency(fastapi_client: httpx.Client) -> None:
    assert fastapi_client.get("/private").status_code == 401
    assert fastapi_client.get("/private", headers={"x-token": "wrong"}).status_code == 401
    response = fastapi_client.get("/private", headers={"x-token": "secret"})
    assert response.status_code == 200
    assert response.json() == {"token": "secret"}


def test_fastapi_upload_file(fastapi_client: httpx.Client) -> None:
    content = pattern(300_000)
    response = fastapi_client.post(
        "/files",
        files={"file": ("report.csv", content, "text/csv")},
        data={"note": "quarterly"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "filename": "report.csv",
        "content_type": "text/csv",
        "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(),
        "note": "quarterly",
    }
    assert fastapi_client.post("/files", data={"note": "no file"}).status_code == 422


# -- Django ----------------------------------------------------------------------------------------


@pytest.fixture
def django_server(serve: Serve) -> Any:
    from apps.django_app import application

    return serve(application)


def test_django_get(django_server: Any, client_for: Callable[[Any], httpx.Client]) -> None:
    client = client_for(django_server)
    response = client.get("/", params={"name": "sailfish"})
    assert response.status_code == 200
    assert response.text == "hello django sailfish"
    assert response.headers["content-type"] == "text/plain"
    response = client.get("/async")
    assert response.json() == {"async": True, "path": "/async", "method": "GET"}


def test_django_post_form(django_server: Any, client_for: Callable[[Any], httpx.Client]) -> None:
    client = client_for(django_server)
    response = client.post("/form", data={"name": "Zoë", "color": ["red", "blue"]})
    assert response.status_code == 200
    assert response.json() == {
        "name": "Zoë",
        "colors": ["red", "blue"],
        "content_type": "application/x-www-form-urlencoded",
    }


def test_django_404(django_server: Any, client_for: Callable[[Any], httpx.Client]) -> None:
    client = client_for(django_server)
    response = client.get("/does/not/exist")
    assert response.status_code == 404
    assert client.get("/").status_code == 200  # keep-alive goes on after a 404


def test_django_over_raw_socket_keep_alive(django_server: Any) -> None:
    with Conn(django_server.port) as conn:
        conn.send(request("GET", "/?name=a") + request("GET", "/?name=b"))
        assert conn.read_response().body == b"hello django a"
        assert conn.read_response().body == b"hello django b"


# -- Quart -----------------------------------------------------------------------------------------


def test_quart_route_and_json(serve: Serve, client_for: Callable[[Any], httpx.Client]) -> None:
    from apps.quart_app import app

    client = client_for(serve(app))
    response = client.get("/")
    assert response.status_code == 200
    assert response.text == "hello quart"
    response = client.post("/json", json={"a": 1, "b": [2, 3]})
    assert response.status_code == 200
    assert response.json() == {"received": {"a": 1, "b": [2, 3]}, "count": 2}
    assert client.get("/missing").status_code == 404


# -- server options seen through a framework ------------------------------------------------------


def test_proxy_headers_from_a_trusted_peer(
    serve: Serve, client_for: Callable[[Any], httpx.Client]
) -> None:
    from apps.starlette_app import make_app

    app, _ = make_app()
    client = client_for(serve(app))  # 127.0.0.1 is trusted by default
    response = client.get(
        "/query/x", headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
    )
    assert response.json()["client_host"] == "203.0.113.7"
    untrusted = client_for(serve(make_app()[0], forwarded_allow_ips="192.0.2.1"))
    response = untrusted.get("/query/x", headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.json()["client_host"] == "127.0.0.1"


def test_root_path_reaches_starlette_routing(
    serve: Serve, client_for: Callable[[Any], httpx.Client]
) -> None:
    from apps.starlette_app import make_app

    app, _ = make_app()
    client = client_for(serve(app, root_path="/api"))
    # the proxy stripped /api; the scope's path carries it again (ASGI), Starlette routes past it
    assert client.get("/items/5").json() == {"item_id": 5, "type": "int"}
    body = client.get("/query/a").json()
    assert body["path"] == "/api/query/a"
    assert body["raw_path"] == "/api/query/a"

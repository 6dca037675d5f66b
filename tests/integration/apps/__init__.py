"""ASGI applications served by the integration tests (raw ASGI and per framework)."""

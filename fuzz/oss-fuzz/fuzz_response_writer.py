"""OSS-Fuzz entry point (atheris): fuzz/targets.py's response_writer over the compiled core."""

import sys

import atheris

import sailfish._http  # noqa: F401  (the instrumented core; also tells pyinstaller to bundle it)

with atheris.instrument_imports():
    import targets


def test_one_input(data: bytes) -> None:
    targets.response_writer(data)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()

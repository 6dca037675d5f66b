"""import_from_string: what it finds, and errors that say what to fix."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sailfish.errors import ConfigError, StartupError
from sailfish.importer import AppImportError, ImportFromStringError, import_from_string


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A module `sf_importer_app` with `app`, `nested.app` and a broken sibling module."""
    (tmp_path / "sf_importer_app.py").write_text(
        "class nested:\n    app = 'nested app'\napp = 'the app'\n"
    )
    (tmp_path / "sf_importer_broken.py").write_text("import sf_missing_dependency\napp = 1\n")
    (tmp_path / "sf_importer_pkg").mkdir()
    (tmp_path / "sf_importer_pkg" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "sf_importer_app"
    for name in ("sf_importer_app", "sf_importer_broken", "sf_importer_pkg"):
        sys.modules.pop(name, None)


def test_imports_attribute(app_module: str) -> None:
    assert import_from_string(f"{app_module}:app") == "the app"


def test_imports_dotted_attribute(app_module: str) -> None:
    assert import_from_string(f"{app_module}:nested.app") == "nested app"


def test_non_string_is_returned_as_is() -> None:
    app = object()
    assert import_from_string(app) is app


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("main", id="no_colon"),
        pytest.param(":app", id="no_module"),
        pytest.param("main:", id="no_attribute"),
    ],
)
def test_bad_format_says_the_expected_format(text: str) -> None:
    with pytest.raises(ImportFromStringError, match='format "<module>:<attribute>"'):
        import_from_string(text)


def test_errors_are_config_errors() -> None:
    assert issubclass(ImportFromStringError, ConfigError)


def test_missing_module_names_it() -> None:
    with pytest.raises(ImportFromStringError, match='could not import module "sf_nope_nope"'):
        import_from_string("sf_nope_nope:app")


def test_missing_submodule_of_existing_package(app_module: str) -> None:
    with pytest.raises(ImportFromStringError, match='no module named "sf_importer_pkg.sub"'):
        import_from_string("sf_importer_pkg.sub:app")


def test_missing_parent_package_is_a_usage_error() -> None:
    with pytest.raises(ImportFromStringError, match='no module named "sf_nope_pkg"'):
        import_from_string("sf_nope_pkg.main:app")


def test_import_error_inside_the_app_is_a_startup_error(app_module: str) -> None:
    with pytest.raises(AppImportError) as info:
        import_from_string("sf_importer_broken:app")
    assert isinstance(info.value, StartupError) and not isinstance(info.value, ConfigError)
    assert str(info.value) == (
        'importing "sf_importer_broken" raised ModuleNotFoundError: '
        "No module named 'sf_missing_dependency'"
    )
    cause = info.value.__cause__
    assert isinstance(cause, ModuleNotFoundError) and cause.name == "sf_missing_dependency"
    # The traceback starts in the app's module, not in sailfish or importlib.
    assert cause.__traceback__ is not None
    assert cause.__traceback__.tb_frame.f_code.co_filename.endswith("sf_importer_broken.py")


@pytest.mark.parametrize(
    ("source", "raised"),
    [
        pytest.param("x = (\n", SyntaxError, id="syntax_error"),
        pytest.param("raise RuntimeError('no config')\n", RuntimeError, id="runtime_error"),
    ],
)
def test_any_exception_at_import_is_a_startup_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, raised: type[Exception]
) -> None:
    (tmp_path / "sf_importer_raises.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(
        AppImportError, match=f'importing "sf_importer_raises" raised {raised.__name__}'
    ):
        import_from_string("sf_importer_raises:app")
    sys.modules.pop("sf_importer_raises", None)


def test_missing_attribute_names_module_and_attribute(app_module: str) -> None:
    with pytest.raises(
        ImportFromStringError, match='attribute "nested.nope" not found in module "sf_importer_app"'
    ):
        import_from_string(f"{app_module}:nested.nope")

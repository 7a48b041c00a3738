"""Unit tests of mlbridge.user_code: loading declared modules and resolving import paths."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlbridge import user_code
from mlbridge.errors import InvalidArgument, exception_to_error
from mlbridge.user_code import UserCodeError, declared_modules, load_user_code, resolve_object

Package = Callable[[dict[str, str]], Path]


@pytest.fixture(autouse=True)
def isolated_imports() -> Iterator[None]:
    """Each test leaves sys.path, sys.modules and the declaration as it found them."""
    path, modules, declared = list(sys.path), set(sys.modules), user_code._declared
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]
    user_code._declared = declared


@pytest.fixture
def package(tmp_path: Path) -> Package:
    """Write ``{relative path: source}`` under a fresh code directory; return it."""

    def write(files: dict[str, str]) -> Path:
        root = tmp_path / "code"
        for relative, source in files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(textwrap.dedent(source))
        return root

    return write


TEAM = {
    "uc_team/__init__.py": "",
    "uc_team/tools.py": """
        import os
        from os import system

        def search(query: str) -> str:
            return query.upper()

        class Helper:
            value = 3

        helper = Helper()
        """,
    "uc_team/extra.py": "LOADED = True\n",
}


@pytest.fixture
def team(package: Package) -> Path:
    root = package(TEAM)
    load_user_code([str(root)], ["uc_team.tools"])
    return root


def test_load_puts_paths_first_and_imports_modules(team: Path) -> None:
    assert sys.path[0] == str(team)
    assert "uc_team.tools" in sys.modules
    assert declared_modules() == ("uc_team.tools",)


def test_resolve_returns_declared_objects(team: Path) -> None:
    search = resolve_object("uc_team.tools:search", what="a tool", check=callable)
    assert search("x") == "X"
    assert resolve_object("uc_team.tools:Helper.value", what="a number") == 3
    helper = resolve_object("uc_team.tools:helper", what="a helper")
    assert type(helper).__name__ == "Helper"


@pytest.mark.parametrize(
    "ref, fragment",
    [
        ("os:system", "module 'os' is not declared"),
        ("subprocess:run", "module 'subprocess' is not declared"),
        ("uc_team:search", "module 'uc_team' is not declared"),
        (".tools:search", "relative names are refused"),
        ("uc_team.tools:__class__", "dunder"),
        ("uc_team.tools:search.__globals__", "dunder"),
        ("uc_team.tools", "not an import path"),
        ("uc_team.tools:", "not an import path"),
        ("uc_team.tools:a b", "not a dotted attribute name"),
        ("uc_team.tools:missing", "'uc_team.tools' has no attribute 'missing'"),
        ("uc_team.tools:Helper.nope", "'uc_team.tools.Helper' has no attribute 'nope'"),
        ("uc_team.tools:os.system", "is the module 'os', which is not declared"),
        ("uc_team.tools:system", "not in a declared module"),
    ],
)
def test_resolve_refuses(team: Path, ref: str, fragment: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_object(ref, what="a tool")
    assert fragment in caught.value.message
    assert caught.value.category == "invalid_argument"


def test_undeclared_module_is_refused_before_any_import(team: Path) -> None:
    sys.modules.pop("this_would_run", None)
    with pytest.raises(InvalidArgument, match=r"declared: uc_team\.tools"):
        resolve_object("this_would_run:main", what="a tool")
    assert "this_would_run" not in sys.modules


def test_submodules_are_not_imported_on_request(package: Package) -> None:
    root = package(TEAM)
    load_user_code([str(root)], ["uc_team"])
    with pytest.raises(InvalidArgument, match="not imported at start"):
        resolve_object("uc_team.extra:LOADED", what="a flag")
    assert "uc_team.extra" not in sys.modules


def test_submodule_imported_at_start_resolves(package: Package) -> None:
    root = package(TEAM)
    load_user_code([str(root)], ["uc_team", "uc_team.extra"])
    assert resolve_object("uc_team.extra:LOADED", what="a flag") is True


def test_submodule_the_package_imports_resolves(package: Package) -> None:
    root = package({**TEAM, "uc_team/__init__.py": "from . import tools\n"})
    load_user_code([str(root)], ["uc_team"])
    assert resolve_object("uc_team.tools:search", what="a tool", check=callable)


def test_check_failure_names_the_kind_and_the_expectation(team: Path) -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve_object("uc_team.tools:search", what="a dspy.Module subclass", check=inspect_class)
    assert caught.value.message == (
        "'uc_team.tools:search' is a function; expected a dspy.Module subclass"
    )


def inspect_class(obj: object) -> bool:
    return isinstance(obj, type)


def test_nothing_declared_says_so() -> None:
    user_code._declared = ()
    with pytest.raises(InvalidArgument, match=r"declared: none"):
        resolve_object("json:dumps", what="a function")


def test_import_error_is_one_line_with_module_and_cause(package: Package) -> None:
    root = package({"uc_broken/__init__.py": "raise RuntimeError('database unreachable')\n"})
    with pytest.raises(UserCodeError) as caught:
        load_user_code([str(root)], ["uc_broken"])
    message = caught.value.message
    assert "'uc_broken'" in message and "RuntimeError: database unreachable" in message
    assert "\n" not in message
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert exception_to_error(caught.value)["category"] == "invalid_configuration"


def test_missing_module_fails_the_load(package: Package) -> None:
    root = package({})
    root.mkdir(exist_ok=True)
    with pytest.raises(UserCodeError, match="ModuleNotFoundError") as caught:
        load_user_code([str(root)], ["uc_nowhere"])
    assert caught.value.message.endswith(f"(code.paths: {root})")


def test_syntax_error_and_system_exit_fail_the_load(package: Package) -> None:
    root = package({"uc_syntax.py": "def (\n", "uc_exit.py": "raise SystemExit(4)\n"})
    with pytest.raises(UserCodeError, match="SyntaxError"):
        load_user_code([str(root)], ["uc_syntax"])
    with pytest.raises(UserCodeError, match="SystemExit"):
        load_user_code([str(root)], ["uc_exit"])


@pytest.mark.parametrize("name", ["", ".rel", "a..b", "a-b", "1abc", "a.b:c"])
def test_bad_module_names_are_refused(name: str) -> None:
    with pytest.raises(UserCodeError, match="not a dotted module name"):
        load_user_code([], [name])


def test_bad_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserCodeError, match="not an existing directory"):
        load_user_code([str(tmp_path / "absent")], [])
    with pytest.raises(UserCodeError, match="absolute path"):
        load_user_code(["relative/dir"], [])

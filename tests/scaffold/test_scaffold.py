"""`ptyrax new-plugin`: the files it writes, what they contain, and what it refuses (fast)."""

import doctest
import importlib
import os
import pathlib
import shutil
import subprocess
import sys
import tomllib

import pytest

import ptyrax_core
from ptyrax_core.cli import main

REPO = pathlib.Path(__file__).resolve().parents[2]
FILES = {
    "pyproject.toml",
    "README.md",
    "ptyrax_my_thing/__init__.py",
    "ptyrax_my_thing/_my_thing.py",
    "tests/test_my_thing.py",
}


def files_in(folder):
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def test_writes_the_distribution_and_says_what_next(tmp_path, scaffold):
    status, out, err = scaffold("my_thing")
    assert status == 0 and err == ""
    folder = tmp_path / "ptyrax-my-thing"
    assert files_in(folder) == FILES
    assert out.startswith(f"Created the ptyrax plugin 'my_thing' in {folder.resolve()}:")
    for path in FILES:
        assert f"\n  {path}\n" in out
    assert f'pip install "{folder.resolve()}[test]"' in out
    assert "ptyrax plugins" in out and "PTYRAX_STRICT_PLUGINS=1 pytest" in out


def test_names_follow_the_first_party_plugins(tmp_path, scaffold):
    scaffold("my_thing")
    folder = tmp_path / "ptyrax-my-thing"
    source = (folder / "ptyrax_my_thing/_my_thing.py").read_text()
    assert "class MyThingArrayParametrization(ptyrax_core.ArrayParametrization):" in source
    assert 'registry_name: ClassVar[str] = "my_thing"' in source
    assert "@ptyrax_core.typechecked" in source and "eqx.field(static=True)" in source
    assert ">>> " in source  # a docstring example
    init = (folder / "ptyrax_my_thing/__init__.py").read_text()
    assert "from ._my_thing import MyThingArrayParametrization as MyThingArrayParametrization" in (
        init
    )
    assert "def ptyrax_parametrizations():" in init and "def ptyrax_examples():" in init
    tests = (folder / "tests/test_my_thing.py").read_text()
    assert "from ptyrax_core.testing import check_parametrization" in tests
    assert (
        "def test_conformance(ptyrax_example):\n    check_parametrization(ptyrax_example)\n"
        in tests
    )
    readme = (folder / "README.md").read_text()
    assert readme.startswith("# ptyrax-my-thing\n")
    for text in ("pip install ./ptyrax-my-thing", "ptyrax plugins", "pytest"):
        assert text in readme
    for path in FILES:
        assert "$" not in (folder / path).read_text(), f"a placeholder is left in {path}"


def test_pyproject_declares_the_entry_point(tmp_path, scaffold):
    scaffold("my_thing")
    pyproject = tomllib.loads((tmp_path / "ptyrax-my-thing/pyproject.toml").read_text())
    project = pyproject["project"]
    assert project["name"] == "ptyrax-my-thing"
    assert project["entry-points"] == {
        "ptyrax": {"my_thing": "ptyrax_my_thing"},
        "ptyrax.parametrizations": {"my_thing": "ptyrax_my_thing:MyThingArrayParametrization"},
    }
    major, minor = ptyrax_core.__version__.split(".")[:2]
    upper = f"0.{int(minor) + 1}" if major == "0" else str(int(major) + 1)
    assert project["dependencies"][0] == f"ptyrax-core>={major}.{minor},<{upper}"
    assert [d.split(">")[0] for d in project["dependencies"][1:]] == [
        "jax",
        "equinox",
        "jaxtyping",
    ]
    assert [d.split(">")[0] for d in project["optional-dependencies"]["test"]] == ["pytest"]
    assert pyproject["build-system"]["build-backend"] == "hatchling.build"
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == [
        "ptyrax_my_thing"
    ]
    assert pyproject["tool"]["pytest"]["ini_options"]["ptyrax_example_plugins"] == ["my_thing"]


def test_the_generated_python_compiles(tmp_path, scaffold):
    scaffold("my_thing")
    for path in (tmp_path / "ptyrax-my-thing").rglob("*.py"):
        compile(path.read_text(), str(path), "exec")


def test_the_generated_python_is_ruff_clean(tmp_path, scaffold):
    ruff = shutil.which("ruff", path=str(pathlib.Path(sys.executable).parent)) or shutil.which(
        "ruff"
    )
    assert ruff, "ruff is a dependency of this test (tox's scaffold env installs it)"
    scaffold("my_thing")
    folder = tmp_path / "ptyrax-my-thing"
    config = ["--config", str(REPO / "pyproject.toml")]  # the first-party plugins' rules
    for command in (["check", *config], ["format", "--check", "--diff", *config]):
        done = subprocess.run([ruff, *command, folder], capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_example_parametrization_works_and_conforms(generated):
    generated("scaffold_probe")
    plugin = importlib.import_module("ptyrax_scaffold_probe")
    from ptyrax_core.testing import check_parametrization

    (cls,) = plugin.ptyrax_parametrizations()
    assert cls is plugin.ScaffoldProbeArrayParametrization
    assert cls.registry_name == "scaffold_probe"
    examples = plugin.ptyrax_examples()
    assert examples and all(type(e) is cls for e in examples)
    for example in examples:
        check_parametrization(example)
    module = importlib.import_module("ptyrax_scaffold_probe._scaffold_probe")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("name", ["my-thing", "1abc", "class", "MyThing", "my thing", "a__b", "_x"])
def test_refuses_a_name_that_is_not_a_snake_case_identifier(tmp_path, scaffold, name):
    status, out, err = scaffold(name)
    assert status == 2 and out == ""
    assert err.startswith("ptyrax new-plugin: error: NAME must be a snake_case Python identifier")
    assert "lowercase letters, digits and single underscores" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_refusals_say_what_to_use_instead(scaffold):
    assert "(such as 'my_thing'); 'my-thing' is not one." in scaffold("my-thing")[2]
    assert "'class' is a Python keyword." in scaffold("class")[2]


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("core", "ptyrax-core itself"),
        ("direct", "a built-in parametrization of ptyrax-core"),
        ("phase_only", "the first-party distribution ptyrax-phase-only"),
        ("normalized_referenced", "the first-party distribution ptyrax-normalized"),
    ],
)
def test_refuses_a_name_that_is_taken(tmp_path, scaffold, name, owner):
    status, _, err = scaffold(name)
    assert status == 2
    expected = f"the name {name!r} is taken by {owner}; choose another."
    assert err == f"ptyrax new-plugin: error: {expected}\n"
    assert list(tmp_path.iterdir()) == []


def test_refuses_an_existing_folder_and_leaves_it_alone(tmp_path, scaffold):
    (tmp_path / "ptyrax-my-thing").mkdir()
    (tmp_path / "ptyrax-my-thing/notes.txt").write_text("mine")
    status, out, err = scaffold("my_thing")
    assert status == 1 and out == ""
    assert err.startswith("ptyrax new-plugin: error: the folder ") and err.count("\n") == 1
    assert "ptyrax-my-thing already exists; remove it, or choose another NAME or --output." in err
    assert files_in(tmp_path / "ptyrax-my-thing") == {"notes.txt"}


def test_an_output_that_is_a_file_is_refused_in_one_line(tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    assert main(["new-plugin", "my_thing", "--output", str(tmp_path / "taken")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ptyrax new-plugin: error: cannot write ") and err.count("\n") == 1


def test_output_defaults_to_the_current_folder_and_is_created(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-plugin", "here"]) == 0
    assert 'pip install "./ptyrax-here[test]"' in capsys.readouterr().out
    assert (tmp_path / "ptyrax-here/ptyrax_here/_here.py").is_file()
    assert main(["new-plugin", "there", "--output", "a/b"]) == 0
    assert (tmp_path / "a/b/ptyrax-there/tests/test_there.py").is_file()


def test_the_command_refuses_in_one_line_without_a_traceback(tmp_path):
    ptyrax = pathlib.Path(sys.executable).parent / "ptyrax"  # the console script
    assert ptyrax.exists(), "ptyrax-core is not installed in this environment"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PTYRAX_")}
    done = subprocess.run(
        [ptyrax, "new-plugin", "my-thing", "--output", tmp_path],
        capture_output=True,
        text=True,
        env=env,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("ptyrax new-plugin: error: NAME must be")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr

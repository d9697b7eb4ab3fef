import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

import ptyrax_core
from ptyrax_core.cli import main


def test_plugins_table(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="good")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert re.match(r"plugin\s+distribution\s+version\s+contributes\s+error\n", out)
    assert re.search(r"builtins\s+ptyrax-core\s+\S+\s+direct, index_slice\s+-\n", out)
    assert re.search(r"good\s+ptyrax-test-good\s+0\.1\.0\s+scaled\s+-\n", out)


def test_plugins_json(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="good,broken_import")
    assert main(["plugins", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert list(rows) == ["builtins", "broken_import", "good"]  # one row per plugin
    assert set(rows["good"]) == {
        "name", "distribution", "version", "parametrizations", "functions", "error",
        "contributions",
    }  # fmt: skip
    assert rows["good"]["contributions"] == {"parametrizations": ["scaled"]}
    assert rows["good"]["distribution"] == "ptyrax-test-good" and rows["good"]["version"] == "0.1.0"
    assert rows["good"]["parametrizations"] == ["scaled"] and rows["good"]["error"] is None
    assert rows["broken_import"]["error"].startswith("ModuleNotFoundError")


def test_plugins_lists_failures_without_warning_noise(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="broken_hook,broken_import")
    assert main(["plugins"]) == 0
    out, err = capsys.readouterr()
    assert re.search(
        r"\nbroken_hook\s+ptyrax-test-broken\s+0\.1\.0\s+-\s+"
        r"RuntimeError: this hook is broken on purpose\n",
        out,
    )
    assert re.search(r"\nbroken_import .* ModuleNotFoundError: No module named", out)
    assert len(out.splitlines()) == 4 and err == ""  # a header, a line per plugin, no warnings


def test_a_first_party_command_that_is_not_installed_says_what_to_install(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="good", PTYRAX_STRICT_PLUGINS="1")  # ptyrax-demo not loaded
    assert main(["demo", "--out", "somewhere", "--devices", "2"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "ptyrax: error: `ptyrax demo` comes with the distribution ptyrax-demo, which is not "
        "installed (or failed to load; see `ptyrax plugins`): pip install ptyrax-demo\n"
    )
    with pytest.raises(SystemExit):
        main(["--help"])
    listed = " ".join(capsys.readouterr().out.split())
    assert "demo (not installed: pip install ptyrax-demo)" in listed


def test_show_a_parametrization(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="good", PTYRAX_STRICT_PLUGINS="1")
    assert main(["show", "index_slice"]) == 0
    out = capsys.readouterr().out
    assert out == (
        "ptyrax_core.IndexSliceParameter  (registry name index_slice; ptyrax-core "
        f"{ptyrax_core.__version__})\n\n"
        "IndexSliceParameter(\n"
        "    parameters: Any,\n"
        "    dim: int = 0,\n"
        ")\n\n"
        "Values stacked along one dimension: `at_index(i)` takes slice `i` of every leaf.\n"
    )
    assert main(["show", "scaled"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "ptyrax_test_good.ScaledArrayParametrization  (registry name scaled; ptyrax-test-good "
        "0.1.0)\n"
    )
    assert "    factor: float = 2.0,\n" in out and out.endswith(
        "`factor * data`, the factor fixed (static).\n"
    )


def test_show_an_exported_name(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="good", PTYRAX_STRICT_PLUGINS="1")
    assert main(["show", "double"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ptyrax_test_good.double  (function; ptyrax-test-good 0.1.0)")
    assert main(["show", "ScaledArrayParametrization"]) == 0
    assert "(registry name scaled;" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "wanted"),
    [
        (
            "wavelet",
            "It is provided by the distribution ptyrax-wavelet: pip install ptyrax-wavelet",
        ),
        ("nothing", "No parametrization is registered as 'nothing'."),
    ],
)
def test_show_an_unknown_name_is_one_line_and_exit_1(plugin_env, name, wanted):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PTYRAX_")}
    env |= {"PTYRAX_PLUGINS": "good,broken_hook"}  # a failed plugin is reported, on the line
    ptyrax = pathlib.Path(sys.executable).parent / "ptyrax"
    done = subprocess.run([ptyrax, "show", name], capture_output=True, text=True, env=env)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].startswith("ptyrax: warning: ptyrax plugin 'broken_hook'")
    assert lines[1].startswith("ptyrax: error: No parametrization is registered as")
    assert wanted in lines[1] and "Registered: direct, index_slice, scaled." in lines[1]
    assert len(lines) == 2 and "Traceback" not in done.stderr


def test_strict_failure_is_one_line_and_exit_1(plugin_env):
    env = {**os.environ, "PTYRAX_PLUGINS": "broken_import", "PTYRAX_STRICT_PLUGINS": "1"}
    ptyrax = pathlib.Path(sys.executable).parent / "ptyrax"  # the console script
    done = subprocess.run([ptyrax, "plugins"], capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("ptyrax: error: ptyrax plugin 'broken_import'")
    assert "Traceback" not in done.stderr


def test_usage_errors(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="good", PTYRAX_STRICT_PLUGINS="1")
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["--version"])
    assert "ptyrax-core" in capsys.readouterr().out


def test_plugins_add_commands(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="good", PTYRAX_STRICT_PLUGINS="1")
    assert main(["good-hello", "--name", "lab"]) == 0
    assert capsys.readouterr().out == "hello, lab, from ptyrax-test-good\n"
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "good-hello" in capsys.readouterr().out


def test_a_command_a_plugin_cannot_add_is_skipped_with_a_warning(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="good")
    from ptyrax_core import registry

    registry.plugins()  # imports them all
    hooks = registry._current().manager.hook.ptyrax_commands
    (impl,) = hooks.get_hookimpls()
    original = impl.function

    def clashing(commands):
        commands.add_parser("plugins")  # core's own command

    impl.function = clashing
    try:
        assert main(["plugins"]) == 0
        out, err = capsys.readouterr()
        assert "builtins" in out
        assert err.startswith("ptyrax: warning: ptyrax plugin 'good' could not add its commands")
        plugin_env(PTYRAX_PLUGINS="good", PTYRAX_STRICT_PLUGINS="1")
        registry.plugins()
        registry._current().manager.hook.ptyrax_commands.get_hookimpls()[0].function = clashing
        assert main(["plugins"]) == 1
        assert "could not add its commands" in capsys.readouterr().err
    finally:
        impl.function = original


def test_load_failures_are_one_line_warnings_for_other_commands(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="good,broken_import")
    assert main(["good-hello"]) == 0
    out, err = capsys.readouterr()
    assert out == "hello, world, from ptyrax-test-good\n"
    assert err.startswith("ptyrax: warning: ptyrax plugin 'broken_import'")
    assert err.count("\n") == 1


def test_output_cut_short_by_its_reader_is_no_error(plugin_env):
    """`ptyrax plugins | head -1`: the pipe closes early; no traceback, as with any tool."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PTYRAX_")}
    env["PTYRAX_PLUGINS"] = "good"
    ptyrax = pathlib.Path(sys.executable).parent / "ptyrax"
    for reader in ("head -c 0", "head -c 10"):  # gone before the first line, or after a part
        done = subprocess.run(
            f"'{ptyrax}' show index_slice | {reader}", shell=True, capture_output=True, env=env
        )
        assert done.stdout == b"ptyrax_cor"[: int(reader[-2:])] and done.stderr == b"", done

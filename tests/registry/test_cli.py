import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from ptyrax_core.cli import main


def test_plugins_table(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="good")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"builtins\s+ptyrax-core\s+\S+\s+direct, index_slice", out)
    assert re.search(r"good\s+ptyrax-test-good\s+0\.1\.0\s+scaled", out)


def test_plugins_json(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="good,broken_import")
    assert main(["plugins", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert set(rows["good"]) == {
        "name", "distribution", "version", "parametrizations", "functions", "error"
    }  # fmt: skip
    assert rows["good"]["parametrizations"] == ["scaled"] and rows["good"]["error"] is None
    assert rows["broken_import"]["error"].startswith("ModuleNotFoundError")


def test_plugins_lists_failures_without_warning_noise(plugin_env, capsys):
    plugin_env(PTYRAX_PLUGINS="broken_hook")
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "broken_hook (ptyrax-test-broken) failed to load: RuntimeError" in out


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

"""What a new plugin author does, in a fresh virtual environment: install ptyrax-core, scaffold
a plugin, install it, see it in the registry, run its tests (about a minute)."""

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DROPPED = {"PTYRAX_PLUGINS", "PTYRAX_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTHONPATH"}
DROPPED |= {"PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTHONHOME", "VIRTUAL_ENV"}


def run(*command, cwd, env):
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    shown = " ".join(str(c) for c in command)
    assert done.returncode == 0, f"{shown} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def assert_passed(out):
    summary = out.strip().splitlines()[-1]
    assert re.search(r"\b\d+ passed\b", summary), out
    assert not re.search(r"failed|error|skipped|xfail", summary), out


@pytest.mark.slow
def test_from_new_plugin_to_the_registry_in_a_fresh_environment(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in DROPPED}
    env["PTYRAX_STRICT_PLUGINS"] = "1"
    env.setdefault("JAX_PLATFORMS", "cpu")
    run(sys.executable, "-m", "venv", tmp_path / "venv", cwd=tmp_path, env=env)
    bin_dir = tmp_path / "venv" / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"
    assert "include-system-site-packages = false" in (tmp_path / "venv/pyvenv.cfg").read_text()

    run(python, "-m", "pip", "install", "--quiet", REPO, cwd=tmp_path, env=env)
    out = run(bin_dir / "ptyrax", "new-plugin", "mything", cwd=tmp_path, env=env)
    assert 'pip install "./ptyrax-mything[test]"' in out
    run(python, "-m", "pip", "install", "--quiet", "./ptyrax-mything[test]", cwd=tmp_path, env=env)

    listed = json.loads(run(bin_dir / "ptyrax", "plugins", "--json", cwd=tmp_path, env=env))
    plugins = {row["name"]: row for row in listed}
    assert set(plugins) == {"builtins", "mything"}
    assert plugins["mything"] == {
        "name": "mything",
        "distribution": "ptyrax-mything",
        "version": "0.1.0",
        "parametrizations": ["mything"],
        "functions": [],
        "error": None,
        "contributions": {"parametrizations": ["mything"]},
    }

    plugin = tmp_path / "ptyrax-mything"
    out = run(bin_dir / "pytest", "-v", "-p", "no:cacheprovider", cwd=plugin, env=env)
    assert_passed(out)
    conformance = re.findall(r"::test_conformance\[(\S+)\] PASSED", out)
    assert conformance and all(c.startswith("mything-") for c in conformance), out
    assert "README.md::README.md PASSED" in out
    out = run(
        bin_dir / "pytest",
        "--doctest-modules",
        "--pyargs",
        "ptyrax_mything",
        "-p",
        "no:cacheprovider",
        cwd=plugin,
        env=env,
    )
    assert_passed(out)

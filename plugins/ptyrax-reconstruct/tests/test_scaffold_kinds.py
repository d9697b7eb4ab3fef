"""What a lab does to plug in its own reader and penalty: `ptyrax new-plugin --kind`, pip
install, and name them in a config, with no other change (a virtual environment on top of
this one: it sees this one's packages, and only the new distributions are installed in it)."""

import os
import pathlib
import site
import subprocess
import sys

import numpy as np
from ptyrax_reconstruct import read_cxi

DROPPED = {"PTYRAX_PLUGINS", "PTYRAX_DISABLE_PLUGIN_AUTOLOAD", "PYTEST_ADDOPTS", "PYTHONPATH"}


def _run(*command, cwd) -> str:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED and k != "VIRTUAL_ENV"}
    env |= {"PTYRAX_STRICT_PLUGINS": "1", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
    shown = " ".join(str(c) for c in command)
    assert done.returncode == 0, f"{shown} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_a_scaffolded_reader_and_penalty_are_usable_by_name_once_installed(tmp_path, shipped_scan):
    _run(sys.executable, "-m", "venv", tmp_path / "venv", cwd=tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    (own,) = [p for p in (tmp_path / "venv" / "lib").glob("python*/site-packages")]
    parents = ", ".join(repr(p) for p in site.getsitepackages())
    (own / "parent.pth").write_text(f"import site; list(map(site.addsitedir, ({parents},)))\n")
    for name, kind in (("labnpz", "readers"), ("labsmooth", "penalties")):
        _run(python, "-m", "ptyrax_core.cli", "new-plugin", name, "--kind", kind, cwd=tmp_path)
    _run(python, "-m", "pip", "install", "--quiet", "--no-deps", "./ptyrax-labnpz",
         "./ptyrax-labsmooth", cwd=tmp_path)  # fmt: skip
    listed = _run(python, "-m", "ptyrax_core.cli", "plugins", cwd=tmp_path)
    assert "readers: labnpz" in listed and "penalties: labsmooth" in listed
    for plugin in ("ptyrax-labnpz", "ptyrax-labsmooth"):  # their own tests, kit included
        assert " passed" in _run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                 cwd=tmp_path / plugin)  # fmt: skip

    scan = read_cxi(shipped_scan)  # 40 frames of the shipped scan, as the new reader reads
    np.savez(
        tmp_path / "scan.npz", frames=scan.frames(slice(0, 40)), translations=scan.translations[:40]
    )
    (tmp_path / "scan.toml").write_text(
        f"""
[data]
file = "scan.npz"
reader = "labnpz"        # by name: the engine's npy reader opens .npz files too
wavelength = {scan.wavelength!r}
distance = {scan.distance!r}
pixel_size = 55e-6

[geometry]
focus_to_sample = 3.65e-3

[[loss.penalties]]
type = "labsmooth"
component = "object"
on = "amplitude"
weight = 0.1
centre = 1.0

[[fit.stages]]
epochs = 2
batch_size = 20
"""
    )
    out = _run(python, "-m", "ptyrax_core.cli", "reconstruct", "scan.toml", "--out", "out",
               "--quiet", cwd=tmp_path)  # fmt: skip
    assert "final deviance" in out and (tmp_path / "out" / "metrics.json").is_file()
    assert "ptyrax_labnpz" not in sys.modules  # nothing was installed here
    assert pathlib.Path(python).exists()

"""`ptyrax reconstruct` on the command line: bad input is one line and exit 2; devices."""

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest
from test_run import ROOT, short_config

from ptyrax_core.cli import main

DATA = ROOT / "examples" / "data" / "PETRAIII_P25_Near_Field_Ptycho.cxi"


def _fails(capsys, args, message, out):
    """`ptyrax reconstruct ARGS` exits 2 with the one line `message` starts, writing nothing."""
    assert main(["reconstruct", *args, "--out", str(out), "--quiet"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"ptyrax reconstruct: error: {message}"), captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert not out.exists() or not any(out.iterdir())


def _with_data(tmp_path, write) -> pathlib.Path:
    """A config for the example with its data replaced by a file `write(path)` makes."""
    path = tmp_path / "bad.cxi"
    write(path)
    config = short_config(tmp_path)
    config.write_text(config.read_text().replace(str(DATA), str(path)))
    return config


def _copy_with(path, change):
    """The shipped scan, copied to `path` with `change(file)` applied."""
    with h5py.File(DATA) as source, h5py.File(path, "w") as f:
        for name in ("entry_1/instrument_1", "entry_1/sample_1"):
            source.copy(source[name], f.require_group("entry_1"), name.split("/")[1])
        change(f)


def _replace(name, value):
    def change(f):
        del f[name]
        f[name] = value

    return change


DETECTOR = "entry_1/instrument_1/detector_1"
BAD_FILES = {
    "not HDF5": (lambda p: p.write_text("counts\n"), "not an HDF5 file"),
    "not CXI": (
        lambda p: h5py.File(p, "w").close(),
        f"not a CXI ptychography file: no {DETECTOR}/data",
    ),
    "2-D data": (
        lambda p: _copy_with(p, _replace(f"{DETECTOR}/data", np.ones((100, 100)))),
        f"{DETECTOR}/data must be 3-D",
    ),
    "translations": (
        lambda p: _copy_with(
            p, _replace("entry_1/sample_1/geometry_1/translation", np.zeros((7, 3)))
        ),
        "entry_1/sample_1/geometry_1/translation must be (200, 3)",
    ),
    "negative counts": (
        lambda p: _copy_with(p, _replace(f"{DETECTOR}/data", -np.ones((200, 100, 100)))),
        f"{DETECTOR}/data: counts must be finite and non-negative",
    ),
    "NaN counts": (
        lambda p: _copy_with(p, _replace(f"{DETECTOR}/data", np.full((200, 100, 100), np.nan))),
        f"{DETECTOR}/data: counts must be finite and non-negative",
    ),
    "mask shape": (
        lambda p: _copy_with(p, _replace(f"{DETECTOR}/mask", np.zeros((10, 10)))),
        f"{DETECTOR}/mask must have the frames' shape",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_data_file_is_one_line_and_exit_2(case, tmp_path, capsys):
    write, message = BAD_FILES[case]
    config = _with_data(tmp_path, write)
    _fails(capsys, [str(config)], f"{tmp_path / 'bad.cxi'}: {message}", tmp_path / "out")


def test_a_missing_data_file_or_config_is_one_line(tmp_path, capsys):
    config = short_config(tmp_path)
    config.write_text(config.read_text().replace(str(DATA), str(tmp_path / "gone.cxi")))
    _fails(capsys, [str(config)], f"{tmp_path / 'gone.cxi'}: no such file", tmp_path / "out")
    _fails(
        capsys,
        [str(tmp_path / "no.toml")],
        f"{tmp_path / 'no.toml'}: no such config",
        tmp_path / "out",
    )


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("[fit]\n", "[fit]\nsede = 1\n"), "config: unknown key 'fit.sede' (did you mean 'seed'?)"),
        (("batch_size = 10", "batch = 10"), "config: unknown key 'fit.stages[0].batch'"),
        (
            ('type = "direct"             #', 'type = "no_such_thing"  #'),
            "config: model.object.type: ",
        ),
        (("epochs = 3", "epochs = 0"), "config: fit.stages[0].epochs must be at least 1; got 0"),
        (('kind = "poisson"', 'kind = "gauss"'), "config: loss.kind must be one of"),
    ],
)
def test_a_bad_config_is_one_line_and_exit_2(edit, message, tmp_path, capsys):
    config = short_config(tmp_path)
    text = config.read_text()
    assert edit[0] in text
    config.write_text(text.replace(edit[0], edit[1], 1))
    _fails(capsys, [str(config)], message, tmp_path / "out")


def test_an_uninstalled_first_party_parametrization_names_its_distribution(tmp_path):
    config = short_config(tmp_path)
    config.write_text(
        config.read_text().replace('type = "direct"             #', 'type = "wavelet"  #')
    )
    env = {**os.environ, "PTYRAX_PLUGINS": "reconstruct,nonnegative"}  # as if not installed
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ptyrax_core.cli",
            "reconstruct",
            str(config),
            "--out",
            str(tmp_path / "out"),
            "--quiet",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2, run.stderr
    assert "pip install ptyrax-wavelet" in run.stderr and run.stderr.count("\n") == 1


def test_bad_devices_out_and_resume_are_one_line(tmp_path, capsys):
    config = short_config(tmp_path)
    _fails(
        capsys,
        [str(config), "--devices", "0"],
        "--devices must be at least 1; got 0",
        tmp_path / "o",
    )
    # JAX has started in this process with one CPU device: more cannot be had.
    _fails(
        capsys, [str(config), "--devices", "4"], "--devices 4: only 1 cpu device(s)", tmp_path / "o"
    )
    a_file = tmp_path / "taken"
    a_file.write_text("")
    assert main(["reconstruct", str(config), "--out", str(a_file), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"ptyrax reconstruct: error: --out {a_file}: is a file; give a folder\n"
    )
    inside = a_file / "out"
    assert main(["reconstruct", str(config), "--out", str(inside), "--quiet"]) == 2
    assert capsys.readouterr().err.startswith(
        f"ptyrax reconstruct: error: --out {inside}: cannot write"
    )
    missing = tmp_path / "none.ptyrax"
    _fails(
        capsys,
        [str(config), "--resume", str(missing)],
        f"--resume {missing}: no such file",
        tmp_path / "o",
    )


def test_resume_with_a_checkpoint_of_another_model_is_refused(tmp_path, capsys):
    one = short_config(tmp_path, stages=[{"epochs": 1, "learning_rate": 0.04, "batch_size": 50}])
    assert main(["reconstruct", str(one), "--out", str(tmp_path / "first"), "--quiet"]) == 0
    capsys.readouterr()
    two = tmp_path / "two.toml"
    two.write_text(one.read_text().replace("probe_modes = 1", "probe_modes = 2"))
    checkpoint = tmp_path / "first" / "checkpoint.ptyrax"
    _fails(
        capsys,
        [str(two), "--resume", str(checkpoint)],
        f"--resume {checkpoint}: a checkpoint of another model",
        tmp_path / "o",
    )
    damaged = tmp_path / "damaged.ptyrax"
    damaged.write_bytes(checkpoint.read_bytes()[:1000])
    _fails(capsys, [str(one), "--resume", str(damaged)], f"--resume {damaged}: ", tmp_path / "o")


DEVICES = textwrap.dedent(
    """
    import json, sys
    import jax
    jax.config.update("jax_num_cpu_devices", 8)
    from ptyrax_reconstruct import load_config, reconstruct
    from ptyrax_reconstruct._run import prepare
    from ptyrax_reconstruct._fit import minibatches

    config = load_config(sys.argv[1])
    setup = prepare(config, devices=8)
    fitter = setup.fitter
    assert fitter.problem.frames.sharding.spec[0] == "frames"
    assert fitter.problem.frames.addressable_shards[0].data.shape == (25, 100, 100)
    batches = jax.device_put(minibatches(fitter.problem, 10, 0, 0))
    state = fitter.init(setup.params)
    rates = {k: jax.numpy.float32(v) for k, v in config.rates(0).items()}
    compiled = fitter._epoch.lower(setup.params, state, rates, batches).compile().as_text()
    assert "all-reduce" in compiled, "no cross-device sum: the epoch is not data-parallel"
    results = {n: reconstruct(config, devices=n) for n in (1, 8)}
    print(json.dumps({n: [r.final_loss, r.final_deviance] for n, r in results.items()}))
    """
)


def test_eight_host_devices_split_the_frames_and_give_the_loss_of_one(tmp_path):
    # Full batches: the same frames in every step, so 8 devices only change summation order.
    config = short_config(
        tmp_path, stages=[{"epochs": 4, "learning_rate": 0.04, "batch_size": 200}]
    )
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    run = subprocess.run(
        [sys.executable, "-c", DEVICES, str(config)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    losses = json.loads(run.stdout.strip().splitlines()[-1])
    (one_loss, one_deviance), (eight_loss, eight_deviance) = losses["1"], losses["8"]
    # float32 sums of 2e6 terms in another order, through 4 Adam steps: far below a real change
    assert eight_loss == pytest.approx(one_loss, rel=1e-4)
    assert eight_deviance == pytest.approx(one_deviance, rel=1e-4)

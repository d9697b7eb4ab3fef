"""`ptyrax demo` end to end: files, bounds, devices, bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from ptyrax_core.cli import main
from ptyrax_core.testing import rounding_tolerance

KEYS = {
    "phase_rmse_rad",
    "initial_position_rmse_px",
    "position_rmse_px",
    "initial_loss",
    "final_loss",
    "devices",
    "seconds",
}


def _demo(tmp_path, *flags):
    status = main(["demo", "--out", str(tmp_path), "--quiet", *flags])
    assert status == 0
    return json.loads((tmp_path / "metrics.json").read_text())


def test_a_short_run_writes_the_metrics_and_the_picture(tmp_path):
    metrics = _demo(tmp_path, "--grid", "4", "--steps", "20")
    assert KEYS <= set(metrics)
    assert metrics["devices"] == 1 and metrics["positions"] == 16
    assert metrics["final_loss"] < 0.5 * metrics["initial_loss"]
    png = (tmp_path / "reconstruction.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000


def test_the_default_run_reaches_the_promised_accuracy(tmp_path):
    # The README's main job: phase RMSE <= 0.1 rad, positions at least halved in error.
    metrics = _demo(tmp_path)
    assert metrics["phase_rmse_rad"] <= 0.1
    assert metrics["position_rmse_px"] <= 0.5 * metrics["initial_position_rmse_px"]
    assert metrics["final_loss"] < metrics["initial_loss"]


def test_the_wavelet_object_reconstructs_too(tmp_path):
    metrics = _demo(tmp_path, "--object", "wavelet", "--grid", "6", "--steps", "150")
    assert metrics["object"] == "wavelet"
    assert metrics["phase_rmse_rad"] <= 0.2
    assert metrics["position_rmse_px"] < metrics["initial_position_rmse_px"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--steps", "0"], "--steps must be at least 1; got 0."),
        (["--devices", "0"], "--devices must be at least 1; got 0."),
        (["--grid", "1"], "--grid must be at least 2"),
        (["--dose", "-1"], "--dose must be a positive number"),
        (["--seed", "-3"], "--seed must not be negative"),
        # the engine's refusal, in the demo's words: so few photons that every pattern is empty
        (["--dose", "1e-9", "--grid", "4", "--quiet"], "data: every frame is empty"),
        (["--devices", "17", "--grid", "4"], "--devices 17 is more than the 16 scan positions"),
        # In this process JAX has started with one CPU device: more cannot be had.
        (["--devices", "4", "--grid", "4"], "--devices 4: only 1 cpu device(s) can be had here"),
    ],
)
def test_bad_input_is_one_line_and_a_nonzero_exit(flags, message, tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ptyrax demo: error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "metrics.json").exists()


def test_an_unwritable_out_is_one_line_and_a_nonzero_exit(tmp_path, capsys):
    a_file = tmp_path / "taken"
    a_file.write_text("")
    assert main(["demo", "--out", str(a_file)]) == 2
    assert (
        capsys.readouterr().err
        == f"ptyrax demo: error: --out {a_file}: is a file; give a folder.\n"
    )
    inside_a_file = a_file / "out"
    assert main(["demo", "--out", str(inside_a_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ptyrax demo: error: --out {inside_a_file}: cannot write there")
    assert err.count("\n") == 1


def _run(tmp_path, devices):
    out = tmp_path / f"devices-{devices}"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    flags = ["--devices", str(devices), "--grid", "4", "--steps", "30", "--quiet"]
    subprocess.run(
        [sys.executable, "-m", "ptyrax_core.cli", "demo", "--out", str(out), *flags],
        check=True,
        env=env,
    )
    return json.loads((out / "metrics.json").read_text())


def test_eight_host_devices_give_the_loss_of_one(tmp_path):
    # A fresh process: the demo asks JAX for 8 CPU devices before it starts.
    one, eight = _run(tmp_path, 1), _run(tmp_path, 8)
    assert eight["devices"] == 8 and one["devices"] == 1
    # The runs differ only in the order in which each step adds the 16 positions' gradients (8
    # partial sums, then across devices): up to 16 roundings a step, carried on by 30 steps.
    terms = 30 * 16
    tol = rounding_tolerance(np.float32, terms=terms, scale=one["final_loss"])
    assert abs(eight["final_loss"] - one["final_loss"]) <= tol
    assert eight["final_loss"] < 0.5 * eight["initial_loss"]
    # the positions move by about their initial error: the rounding is relative to that
    tol = rounding_tolerance(np.float32, terms=terms, scale=one["initial_position_rmse_px"])
    assert abs(eight["position_rmse_px"] - one["position_rmse_px"]) <= tol
